import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_DIR as REPO, runProcess } from '../testing/helpers/process';
import { CLI_FILE_PATH } from '../lib/cli-distribution';
import { createApiToken } from '../server/access-keys/api-tokens';
import { createBox } from '../server/boxes/boxes';
import { BUILT_CLI_DIR } from '../server/http/cli-download';
import { appRouter } from '../server/trpc/router';
import { startBackend, type Backend } from '../testing/helpers/terminals';

/**
 * The CLI as a new developer gets it: built as scripts/install.sh builds it, served by a running dashboard, installed
 * with the real `curl ... | sh` into a fresh HOME whose PATH holds only node's folder and /usr/bin:/bin (no checkout,
 * no node_modules), then run from there. The dashboard sits behind a small reverse proxy (its BOXYARD_URL) that can
 * change a byte of the CLI or cut its download halfway, as a broken network or a meddling middlebox would.
 */

const run = (file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) => runProcess(file, args, { env, cwd });
const BUILT_CLI = path.join(BUILT_CLI_DIR, 'boxyard.mjs');



type ProxyMode = 'pass' | 'tamper' | 'cut';

/** A reverse proxy to `target()` that, per `mode`, flips one byte of the CLI download or ends it halfway. */
function startProxy(target: () => string, mode: () => ProxyMode): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const upstream = request(new URL(req.url ?? '/', target()), { method: req.method, headers: req.headers }, (answer) => {
      if (req.url !== CLI_FILE_PATH || mode() === 'pass') {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        if (mode() === 'cut') {
          res.write(body.subarray(0, body.length / 2));
          res.destroy();
          return;
        }
        body[body.length - 2] ^= 0x01;
        res.end(body);
      });
    });
    req.pipe(upstream);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

describe('the CLI installed from the dashboard', () => {
  let backend: Backend;
  let proxy: { server: Server; url: string };
  let backendUrl = '';
  let mode: ProxyMode = 'pass';
  let token: string;
  /** The line the profile page shows (connect.cliInstall). */
  let installLine: string;
  const scratch = mkdtempSync(path.join(tmpdir(), 'boxyard-cli-install-'));
  const home = path.join(scratch, 'home');
  const installed = path.join(home, '.local', 'bin', 'boxyard');
  // node's own folder and the system's: no checkout, no node_modules/.bin, not yet ~/.local/bin.
  const basePath = `${path.dirname(process.execPath)}:/usr/bin:/bin`;
  const env = (PATH = basePath, HOME = home) => ({ PATH, HOME, NODE_ENV: 'test' }) as NodeJS.ProcessEnv;
  const install = (environment = env()) => run('sh', ['-c', installLine], environment, environment.HOME!);
  const boxyard = (...args: string[]) => run('boxyard', args, env(`${path.dirname(installed)}:${basePath}`), home);

  beforeAll(async () => {
    mkdirSync(home);
    const built = await run(process.execPath, ['scripts/build-cli.mjs'], process.env, REPO);
    expect(built.stderr).toBe('');
    proxy = await startProxy(() => backendUrl, () => mode);
    backend = await startBackend({ BOXYARD_URL: proxy.url });
    backendUrl = (await backend.listen()).replace(/^ws:/, 'http:');
    const alice = await backend.addUser('alice@example.com');
    await createBox(backend.services.db, backend.services.secrets, backend.admin.user, {
      name: 'laptop-box',
      host: '192.0.2.10',
      port: 2222,
      sshUser: 'dev',
      tags: [],
      notes: '',
      ownerId: alice.user.id,
      memberIds: [],
      auth: { method: 'dashboard-key' },
    });
    ({ token } = await createApiToken(backend.services.db, alice.user, 'laptop'));
    ({ command: installLine } = await appRouter.createCaller({ services: backend.services, user: alice.user }).connect.cliInstall());
  });

  afterAll(async () => {
    proxy?.server.closeAllConnections();
    proxy?.server.close();
    await backend?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const leftovers = () => readdirSync(path.dirname(installed)).filter((name) => name !== 'boxyard');

  it("the profile page's curl | sh line installs the built CLI into ~/.local/bin and says how to put it on PATH", async () => {
    expect(installLine).toBe(`curl -fsSL ${proxy.url}/cli/install.sh | sh`);
    const ran = await install();
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(readFileSync(installed).equals(readFileSync(BUILT_CLI))).toBe(true);
    expect(statSync(installed).mode & 0o777).toBe(0o755);
    expect(leftovers()).toEqual([]);
    expect(ran.stdout).toContain(`Installed ${installed}: boxyard 0.1.0 (build sha256 ${readFileSync(`${BUILT_CLI}.sha256`, 'utf8').split(' ')[0]})`);
    expect(ran.stdout).toContain(`${path.dirname(installed)} is not on your PATH. Add it`);
  });

  it('`boxyard version` compares itself with the dashboard', async () => {
    const ran = await boxyard('version', '--url', proxy.url);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`The dashboard at ${proxy.url} serves this same CLI.`);
    const report = JSON.parse((await boxyard('version', '--url', proxy.url, '--json')).stdout);
    const published = readFileSync(`${BUILT_CLI}.sha256`, 'utf8').split(' ')[0];
    expect(report).toMatchObject({ version: '0.1.0', sha256: published, dashboard: { url: proxy.url, sha256: published, newer: false } });
  });

  // --direct: entries to the box's own address, so the expected text does not depend on where this test installed.
  it('`boxyard connect` writes the ssh config from there with a real API token', async () => {
    const ran = await boxyard('connect', '--url', proxy.url, '--token', token, '--no-docker-contexts', '--direct');
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('alice@example.com may reach 1 box(es): laptop-box.');
    const config = readFileSync(path.join(home, '.ssh', 'config'), 'utf8');
    expect(config).toContain('Host laptop-box\n  HostName 192.0.2.10\n  Port 2222\n  User dev\n');

    const again = JSON.parse((await boxyard('connect', '--url', proxy.url, '--token', token, '--no-docker-contexts', '--direct', '--json')).stdout);
    expect(again).toEqual({
      email: 'alice@example.com',
      boxes: ['laptop-box'],
      sshConfig: { path: path.join(home, '.ssh', 'config'), status: 'unchanged' },
      // 192.0.2.10 is never reached by the dashboard: no pin, so no key line.
      knownHosts: { path: path.join(home, '.config', 'boxyard', 'known_hosts'), status: 'unchanged', unpinned: ['laptop-box'] },
      dockerContexts: null,
    });
    const refused = await boxyard('connect', '--url', proxy.url, '--token', 'byd_nope', '--json');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('boxyard: the dashboard refused the token');
  });

  it('a download changed on the way or cut halfway installs nothing and says why', async () => {
    const before = readFileSync(installed);
    const freshHome = path.join(scratch, 'fresh-home');
    mkdirSync(freshHome);
    try {
      mode = 'tamper';
      for (const environment of [env(), env(basePath, freshHome)]) {
        const ran = await install(environment);
        expect(ran.code).toBe(1);
        expect(ran.stderr).toMatch(/^boxyard install: the downloaded CLI's SHA-256 is [0-9a-f]{64} but the dashboard publishes [0-9a-f]{64}: it was changed on the way, nothing installed\./);
      }
      mode = 'cut';
      const cut = await install(env(basePath, freshHome));
      expect(cut.code).toBe(1);
      expect(cut.stderr).toContain(`boxyard install: could not download ${proxy.url}/cli/boxyard.mjs: nothing installed.`);
    } finally {
      mode = 'pass';
    }
    expect(readFileSync(installed).equals(before)).toBe(true);
    expect(leftovers()).toEqual([]);
    expect(readdirSync(path.join(freshHome, '.local', 'bin'))).toEqual([]);
  });

  it('refuses a node older than 20 with a plain sentence', async () => {
    const oldNode = path.join(scratch, 'old-node');
    mkdirSync(oldNode);
    writeFileSync(path.join(oldNode, 'node'), '#!/bin/sh\nif [ "$1" = -p ]; then echo 18; else echo v18.20.4; fi\n', { mode: 0o755 });
    const freshHome = path.join(scratch, 'old-node-home');
    mkdirSync(freshHome);
    const ran = await install(env(`${oldNode}:/usr/bin:/bin`, freshHome));
    expect(ran.code).toBe(1);
    expect(ran.stderr.trim()).toBe('boxyard install: the Boxyard CLI needs Node.js 20 or newer, and this node is v18.20.4: upgrade it and run this again.');
    expect(readdirSync(freshHome)).toEqual([]);
  });

  it('a bad command line exits 2 with the usage, a failure 1', async () => {
    const noToken = await boxyard('connect', '--url', proxy.url);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('boxyard: not signed in: run `boxyard login URL` (or pass --url and --token, or set BOXYARD_URL and BOXYARD_TOKEN)\n\nUsage: boxyard connect [--url URL --token TOKEN] [options]');
    const unknown = await boxyard('nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('boxyard: unknown command "nope"\n\nUsage: boxyard connect');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await boxyard('version', '--url', `http://127.0.0.1:${port}`);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`boxyard: could not reach the dashboard at http://127.0.0.1:${port}: connect ECONNREFUSED`);
  });

  it('the CLI is served with its hash as ETag, revalidated and not sent again while unchanged', async () => {
    const published = readFileSync(`${BUILT_CLI}.sha256`, 'utf8');
    const first = await fetch(`${backendUrl}/cli/boxyard.mjs`);
    expect(first.status).toBe(200);
    expect(first.headers.get('etag')).toBe(`"${published.split(' ')[0]}"`);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    expect(Buffer.from(await first.arrayBuffer()).equals(readFileSync(BUILT_CLI))).toBe(true);
    const again = await fetch(`${backendUrl}/cli/boxyard.mjs`, { headers: { 'if-none-match': first.headers.get('etag')! } });
    expect(again.status).toBe(304);
    expect(await (await fetch(`${backendUrl}/cli/boxyard.mjs.sha256`)).text()).toBe(published);
  });

  it('`boxyard completion` gives bash the commands and their flags', async () => {
    const complete = (line: string) =>
      run('bash', ['-c', `eval "$(boxyard completion)"; COMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _boxyard; echo "\${COMPREPLY[@]}"`],
        env(`${path.dirname(installed)}:${basePath}`), home);
    expect((await complete("boxyard ''")).stdout.trim()).toBe('connect proxy login logout ls ssh forward start stop suspend resume open version completion');
    expect((await complete('boxyard connect --no')).stdout.trim()).toBe('--no-docker-contexts');
  });

  it('`boxyard version` says when the dashboard has a newer CLI', async () => {
    appendFileSync(installed, '\n// an older build than the dashboard serves\n');
    const ran = await boxyard('version', '--url', proxy.url);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`The dashboard at ${proxy.url} has a newer CLI (sha256 ${readFileSync(`${BUILT_CLI}.sha256`, 'utf8').split(' ')[0]}). Install it with:`);
    expect(ran.stdout).toContain(`curl -fsSL ${proxy.url}/cli/install.sh | sh`);
    expect(JSON.parse((await boxyard('version', '--url', proxy.url, '--json')).stdout).dashboard.newer).toBe(true);
  });
});

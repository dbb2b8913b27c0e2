import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { createApiToken, revokeApiToken } from '../server/access-keys/api-tokens';
import { LAB_START_TIMEOUT_MS } from '../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';

/**
 * The real CLI process (tsx, as `npx boxyard` runs it) against a dashboard started in-process, with HOME pointed at a
 * temporary folder: ~/.ssh/config and the docker CLI's contexts ($HOME/.docker) are the temporary ones. The written
 * config is then used by the real ssh client to reach a lab box.
 */

const run = (file: string, args: string[], env: NodeJS.ProcessEnv = process.env) => runProcess(file, args, { env });



const hasDocker = spawnSync('docker', ['--version']).status === 0;

describe('boxyard connect', () => {
  let backend: Backend;
  let lab: LabBox;
  let alice: TestUser;
  let url: string;
  let token: string;
  let tokenId: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-cli-home-'));
  const sshConfig = path.join(home, '.ssh', 'config');
  const knownHosts = path.join(home, '.config', 'boxyard', 'known_hosts');
  const labKey = path.join(home, 'lab_ed25519');
  // Only what the CLI and docker need: no DOCKER_HOST/DOCKER_CONTEXT/DOCKER_CONFIG leaking in from the test runner.
  const env = { PATH: process.env.PATH, HOME: home, NODE_ENV: 'test' } as NodeJS.ProcessEnv;

  const cli = (...args: string[]) => run(TSX, [CLI, 'connect', '--url', url, ...args], env);

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'cli' })]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    alice = await backend.addUser('alice@example.com');
    await backend.addBox('cli-box', lab, alice);
    await backend.addBox('not-alices', lab, backend.admin);
    ({ token, apiToken: { id: tokenId } } = await createApiToken(backend.services.db, alice.user, 'cli test'));
    writeFileSync(labKey, lab.privateKey, { mode: 0o600 });
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
    rmSync(home, { recursive: true, force: true });
  });

  it('writes the boxes the token may reach into a new ~/.ssh/config (700/600) and makes their docker contexts', async () => {
    const ran = await cli('--token', token, '--identity-file', labKey, '--direct');
    expect(ran.stderr).not.toMatch(/boxyard:/);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('alice@example.com may reach 1 box(es): cli-box.');
    // The dashboard has not connected to cli-box yet: no key to write, and connect says so.
    expect(ran.stdout).toContain('No host key is pinned yet for cli-box (the dashboard has not connected to it), so ssh refuses its entry');
    expect(readFileSync(knownHosts, 'utf8')).not.toMatch(/^cli-box /m);
    expect(readFileSync(sshConfig, 'utf8')).toBe(
      [
        '# BEGIN boxyard (managed by `boxyard connect`)',
        'Host cli-box',
        '  HostName 127.0.0.1',
        `  Port ${lab.port}`,
        '  User dev',
        `  IdentityFile ${labKey}`,
        '  HostKeyAlias cli-box',
        `  UserKnownHostsFile ${knownHosts}`,
        '  StrictHostKeyChecking yes',
        '  ServerAliveInterval 30',
        '  ControlMaster auto',
        '  ControlPath ~/.ssh/boxyard-%r@%h:%p',
        '  ControlPersist 10m',
        '# END boxyard',
        '',
      ].join('\n'),
    );
    expect(statSync(path.dirname(sshConfig)).mode & 0o777).toBe(0o700);
    expect(statSync(sshConfig).mode & 0o777).toBe(0o600);
    const stored = await backend.services.db.apiToken.findUniqueOrThrow({ where: { id: tokenId } });
    expect(stored.lastUsedAt).toBeInstanceOf(Date);

    if (!hasDocker) {
      expect(ran.stdout).toContain('docker is not installed (or not on PATH): skipped the docker contexts.');
      return;
    }
    expect(ran.stdout).toContain('docker context cli-box: created');
    const contexts = await run('docker', ['context', 'ls', '--format', '{{.Name}} {{.DockerEndpoint}}'], env);
    expect(contexts.stdout.split('\n')).toContain('cli-box ssh://cli-box');
    expect(existsSync(path.join(home, '.docker', 'contexts'))).toBe(true);
  });

  it('a second run changes nothing', async () => {
    const before = { bytes: readFileSync(sshConfig), mtime: statSync(sshConfig).mtimeMs, knownHosts: statSync(knownHosts).mtimeMs };
    const ran = await cli('--token', token, '--identity-file', labKey, '--direct');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`${sshConfig}: already up to date.`);
    if (hasDocker) expect(ran.stdout).toContain('docker context cli-box: already up to date.');
    expect(readFileSync(sshConfig).equals(before.bytes)).toBe(true);
    expect(statSync(sshConfig).mtimeMs).toBe(before.mtime);
    expect(statSync(knownHosts).mtimeMs).toBe(before.knownHosts);
  });

  it('a context pointing elsewhere is updated', async () => {
    if (!hasDocker) return;
    await run('docker', ['context', 'update', 'cli-box', '--docker', 'host=ssh://elsewhere'], env);
    const ran = await cli('--token', token, '--identity-file', labKey, '--direct');
    expect(ran.stdout).toContain('docker context cli-box: updated');
    const host = await run('docker', ['context', 'inspect', 'cli-box', '--format', '{{.Endpoints.docker.Host}}'], env);
    expect(host.stdout.trim()).toBe('ssh://cli-box');
  });

  it('the real ssh client reaches the box through the written entry, over one shared control connection', async () => {
    const controlPath = path.join(home, '.ssh', 'cm-%r@%h:%p');
    const ssh = (...args: string[]) =>
      run('ssh', [
        '-F', sshConfig,
        '-o', 'StrictHostKeyChecking=accept-new',
        '-o', `UserKnownHostsFile=${path.join(home, 'known_hosts')}`,
        '-o', 'BatchMode=yes',
        // ssh expands "~" from the passwd entry, not $HOME: keep the control socket in the temporary home.
        '-o', `ControlPath=${controlPath}`,
        ...args,
      ], env);
    const first = await ssh('cli-box', 'echo "$USER on $(hostname)"');
    expect(first.stderr).not.toMatch(/denied|refused/i);
    expect(first.stdout.trim()).toBe(`dev on ${lab.name.slice(0, 63)}`);
    try {
      expect((await ssh('-O', 'check', 'cli-box')).stderr).toMatch(/Master running/);
      expect((await ssh('cli-box', 'true')).code).toBe(0);
    } finally {
      await ssh('-O', 'exit', 'cli-box');
    }
  });

  it('keeps every byte of an existing config outside its block, and --dry-run changes nothing', async () => {
    const custom = path.join(home, 'custom', 'config');
    mkdirSync(path.dirname(custom), { mode: 0o700 });
    const before = 'Include ~/.colima/ssh_config\r\n\r\nHost *\r\n  AddKeysToAgent yes\r\n';
    const after = '\r\nHost *\r\n  IdentitiesOnly yes';
    writeFileSync(custom, `${before}# BEGIN boxyard (managed by \`boxyard connect\`)\r\nHost gone\r\n# END boxyard\r\n${after}`);
    chmodSync(custom, 0o640);
    const dry = await cli('--token', token, '--ssh-config', custom, '--no-docker-contexts', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${custom}: would be rewritten to:`);
    expect(readFileSync(custom, 'utf8')).toContain('Host gone');

    const ran = await cli('--token', token, '--ssh-config', custom, '--no-docker-contexts');
    expect(ran.code).toBe(0);
    const written = readFileSync(custom, 'utf8');
    expect(written.startsWith(`${before}# BEGIN boxyard (managed by \`boxyard connect\`)\r\nHost cli-box\r\n`)).toBe(true);
    expect(written.endsWith(`  ControlPersist 10m\r\n# END boxyard\r\n${after}`)).toBe(true);
    expect(written).not.toContain('Host gone');
    expect(statSync(custom).mode & 0o777).toBe(0o640);
  });

  it('duplicate markers are refused and the file is left alone', async () => {
    const doubled = path.join(home, 'doubled');
    const content = '# BEGIN boxyard (managed by `boxyard connect`)\n# END boxyard\n'.repeat(2);
    writeFileSync(doubled, content);
    const ran = await cli('--token', token, '--ssh-config', doubled, '--no-docker-contexts');
    expect(ran.code).toBe(1);
    expect(ran.stderr).toContain(`boxyard: ${doubled} cannot be updated safely: it has more than one "# BEGIN boxyard (managed by \`boxyard connect\`)" line`);
    expect(readFileSync(doubled, 'utf8')).toBe(content);
  });

  it('a revoked or unknown token fails with a clear message and changes nothing', async () => {
    const before = readFileSync(sshConfig);
    await revokeApiToken(backend.services.db, alice.user, tokenId);
    const revoked = await cli('--token', token);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr.trim()).toBe('boxyard: the dashboard refused the token: This API token was revoked; make a new one on your profile page.');
    const unknown = await cli('--token', 'byd_nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('boxyard: the dashboard refused the token: This API token is not known to this dashboard');
    expect(readFileSync(sshConfig).equals(before)).toBe(true);
  });

  it('runs as `npx boxyard` from the repository', async () => {
    const ran = await run('npx', ['boxyard', '--help']);
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain('Usage: boxyard connect [--url URL --token TOKEN] [options]');
  });
});

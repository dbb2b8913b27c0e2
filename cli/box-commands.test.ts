import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, revokeApiToken } from '../server/access-keys/api-tokens';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { LAB_START_TIMEOUT_MS } from '../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { activityText, type ListedBox } from './ls';

/**
 * `boxyard ls`, `ssh` and `open` as the CLI process, against a dashboard started in-process and a lab box: ls through
 * the tRPC API with an API token, the real OpenSSH ssh through the dashboard's tunnel (by the entry `boxyard connect`
 * wrote, and without one through `boxyard proxy` as ProxyCommand), and `open` running a `code` on PATH that records
 * the arguments it was given.
 */

describe('boxyard ls, ssh and open', () => {
  let backend: Backend;
  let lab: LabBox;
  let alice: TestUser;
  let url: string;
  let token: string;
  let webId: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-box-commands-'));
  const labKey = path.join(home, 'lab_ed25519');
  const bin = path.join(home, 'bin');
  const codeArgv = path.join(home, 'code-argv');
  // Above the boxyard block: ssh takes the first value it finds, so these win over the entries' own. (The lab box's
  // host key is taken on first use here; LogLevel ERROR keeps ssh's note about that off stderr.)
  const testSshOptions = (extra: string[] = []) =>
    [
      'Host *',
      '  StrictHostKeyChecking accept-new',
      `  UserKnownHostsFile ${path.join(home, 'known_hosts')}`,
      '  LogLevel ERROR',
      '  BatchMode yes',
      '  ControlMaster no',
      '  ControlPath none',
      ...extra,
      '',
    ].join('\n');
  /** What `boxyard connect` writes its entries into. */
  const connectedConfig = path.join(home, 'ssh', 'connected');
  /** No boxyard entries: `ssh` goes through `boxyard proxy` as ProxyCommand. */
  const bareConfig = path.join(home, 'ssh', 'bare');
  const env = { PATH: `${bin}:${process.env.PATH}`, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), NODE_ENV: 'test' } as NodeJS.ProcessEnv;
  const boxyard = (args: string[], extraEnv: Record<string, string | undefined> = {}) => runProcess(TSX, [CLI, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 120_000 });
  const withToken = (...args: string[]) => [...args.slice(0, 1), '--url', url, '--token', token, ...args.slice(1)];

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'box-commands' })]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    await lab.authorize(backend.services.dashboardPublicKey);
    alice = await backend.addUser('alice@example.com');
    const web = await backend.addBox('web-box', lab, alice);
    webId = web.id;
    await backend.addBox('shared-box', lab, backend.admin, [alice]);
    await backend.addBox('admins-box', lab, backend.admin);
    await backend.services.remote.refreshFacts(web.id, backend.admin.user);
    ({ token } = await createApiToken(backend.services.db, alice.user, 'box commands test'));
    writeFileSync(labKey, lab.privateKey, { mode: 0o600 });
    mkdirSync(path.dirname(connectedConfig), { recursive: true });
    writeFileSync(connectedConfig, testSshOptions());
    writeFileSync(bareConfig, testSshOptions([`  IdentityFile ${labKey}`, '  IdentitiesOnly yes']));
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'code'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${codeArgv}\n`, { mode: 0o755 });
    const connected = await boxyard(withToken('connect', '--ssh-config', connectedConfig, '--identity-file', labKey, '--no-docker-contexts'));
    expect(connected.stderr).toBe('');
    expect(connected.code).toBe(0);
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
    rmSync(home, { recursive: true, force: true });
  });

  it('ls prints the boxes she may reach as a table, and --json every field with the fleet metrics', async () => {
    const listed = await boxyard(withToken('ls', '--json'));
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const boxes = JSON.parse(listed.stdout) as ListedBox[];
    expect(boxes.map((box) => box.name)).toEqual(['shared-box', 'web-box']);
    const web = boxes.find((box) => box.name === 'web-box')!;
    expect(web).toMatchObject({ status: 'online', sshUser: 'dev', owner: { email: 'alice@example.com' }, host: lab.host, port: lab.port });
    expect(web.facts?.os.name).toBeTruthy();
    expect(web.metrics).toMatchObject({ isVm: false, activity: { kind: expect.any(String) } });

    // The dashboard and token from the environment, as scripts give them.
    const table = await boxyard(['ls'], { BOXYARD_URL: url, BOXYARD_TOKEN: token });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+ACTIVITY\s+OS\s+OWNER$/);
    expect(lines).toHaveLength(3);
    const now = Date.now();
    const webLine = lines.find((line) => line.startsWith('web-box '))!;
    expect(webLine.split(/\s{2,}/)).toEqual(['web-box', 'online', activityText(web.metrics!.activity, now), web.facts!.os.name, 'alice@example.com']);
    expect(lines.find((line) => line.startsWith('shared-box '))!.split(/\s{2,}/)).toEqual(['shared-box', 'unknown', expect.any(String), '-', 'admin@boxyard.local']);
  }, 60_000);

  it("ls --ports lists each box's listening ports as the box's sampler reports them; a box never sampled says so", async () => {
    await lab.root(`su dev -c 'setsid perl -MIO::Socket::INET -e "\\$s=IO::Socket::INET->new(LocalAddr=>q(127.0.0.1:7401),Listen=>4) or die; sleep 1 while 1" >/dev/null 2>&1 </dev/null &'`);
    await until(async () => (await lab.root("ss -ltnH 'sport = :7401'")).stdout.includes('7401'), 'the server on the box', 10_000);
    await backend.services.metrics.start({ only: [webId] });
    try {
      await until(() => backend.services.metrics.ports.get(webId).ports?.find((port) => port.port === 7401 && port.owner.kind === 'process'), 'the port on web-box');
      const table = await boxyard(withToken('ls', '--ports'));
      expect(table).toMatchObject({ code: 0, stderr: '' });
      const [, ports] = table.stdout.trimEnd().split('\n\n');
      const rows = ports!.split('\n').map((line) => line.split(/\s{2,}/));
      expect(rows[0]).toEqual(['NAME', 'PORT', 'ADDRESS', 'WHAT LISTENS']);
      expect(rows).toContainEqual(['web-box', '22', 'all interfaces', 'unknown']); // root's sshd: not dev's to see
      expect(rows).toContainEqual(['web-box', '7401', 'loopback only', expect.stringMatching(/^perl \(pid \d+\)$/)]);
      expect(rows).toContainEqual(['shared-box', '-', 'not known (never reached, or its sampler is down)']);

      const listed = JSON.parse((await boxyard(withToken('ls', '--json'))).stdout) as ListedBox[];
      expect(listed.find((box) => box.name === 'web-box')!.metrics!.ports).toContainEqual({ port: 7401, address: { kind: 'loopback' }, owner: { kind: 'process', command: 'perl', pid: expect.any(Number) } });
      expect(listed.find((box) => box.name === 'shared-box')!.metrics?.ports ?? null).toBeNull();
    } finally {
      await backend.services.metrics.stop();
      await lab.root("pkill -u dev -f 'IO::Socket::INET'");
    }
  }, 60_000);

  it('ls without a sign-in is a usage error (2); with a revoked token one sentence (1)', async () => {
    // connect (in beforeAll) saved its token as the login: a laptop that never signed in has its own config folder.
    const unsigned = await boxyard(['ls'], { XDG_CONFIG_HOME: mkdtempSync(path.join(home, 'unsigned-')) });
    expect(unsigned.code).toBe(2);
    expect(unsigned.stderr).toMatch(/^boxyard: not signed in: run `boxyard login URL`/);

    const { token: revoked, apiToken } = await createApiToken(backend.services.db, alice.user, 'soon revoked');
    await revokeApiToken(backend.services.db, alice.user, apiToken.id);
    const refused = await boxyard(['ls', '--url', url, '--token', revoked]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`boxyard: the dashboard at ${url} refused the token: This API token was revoked; make a new one on your profile page.\n`);
  }, 60_000);

  it("ssh NAME through connect's entry passes the remote command's exit code, and its flags, through the tunnel", async () => {
    const exited = await boxyard(['ssh', '--ssh-config', connectedConfig, 'web-box', 'exit 3']);
    expect(exited.stderr).toBe('');
    expect(exited.code).toBe(3);

    const listing = await boxyard(['ssh', '--ssh-config', connectedConfig, 'web-box', 'ls', '-d', '/tmp']);
    expect(listing).toEqual({ code: 0, stdout: '/tmp\n', stderr: '' });

    // Both went through the dashboard: each a tunnel opened by alice to web-box.
    const opened = await backend.services.db.auditEvent.count({ where: { action: 'tunnel.open', boxName: 'web-box', actorEmail: 'alice@example.com', result: 'ok' } });
    expect(opened).toBe(2);
  }, 60_000);

  it('ssh NAME without an entry goes through boxyard proxy as ProxyCommand, as the box user, from the box’s own loopback, checking the pinned key', async () => {
    // The laptop checks the box's key against the dashboard's pin: none yet (the dashboard never connected to it).
    const unpinned = await boxyard(withToken('ssh', '--ssh-config', bareConfig, 'shared-box', 'true'));
    expect(unpinned).toEqual({ code: 1, stdout: '', stderr: 'boxyard: no host key is pinned yet for shared-box (the dashboard has not connected to it); open it on the dashboard once, then try again\n' });
    const shared = await backend.services.db.box.findFirstOrThrow({ where: { name: 'shared-box' } });
    await backend.services.remote.refreshFacts(shared.id, backend.admin.user);

    const ran = await boxyard(withToken('ssh', '--ssh-config', bareConfig, 'shared-box', 'echo "$USER $SSH_CONNECTION"; exit 5'));
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(5);
    const [user, clientAddress, , serverAddress] = ran.stdout.trim().split(' ');
    expect({ user, clientAddress, serverAddress }).toEqual({ user: 'dev', clientAddress: '127.0.0.1', serverAddress: '127.0.0.1' });
  }, 60_000);

  it('ssh to an unknown box, or to one she may not reach, says so in one sentence and exits 1', async () => {
    const unknown = await boxyard(withToken('ssh', '--ssh-config', bareConfig, 'no-such-box', 'true'));
    expect(unknown).toEqual({ code: 1, stdout: '', stderr: `boxyard: no box named no-such-box among the ones you may reach on ${url} (\`boxyard ls\` lists them)\n` });
    const notHers = await boxyard(withToken('ssh', '--ssh-config', bareConfig, 'admins-box', 'true'));
    expect(notHers).toEqual({ ...unknown, stderr: unknown.stderr.replace('no-such-box', 'admins-box') });
  }, 60_000);

  it('open runs code --remote ssh-remote+NAME PATH, or prints the vscode:// link', async () => {
    const opened = await boxyard(['open', '--ssh-config', connectedConfig, 'web-box', 'src/app']);
    expect(opened).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(readFileSync(codeArgv, 'utf8')).toBe('--remote\nssh-remote+web-box\n/home/dev/src/app\n');
    rmSync(codeArgv);

    const printed = await boxyard(['open', '--ssh-config', connectedConfig, '--print', 'web-box']);
    expect(printed).toEqual({ code: 0, stdout: 'vscode://vscode-remote/ssh-remote+web-box/home/dev\n', stderr: '' });
    expect(existsSync(codeArgv)).toBe(false);

    // No `code` on PATH: the link, and why on stderr; --json says it was not launched.
    const withoutCode = await boxyard(['open', '--ssh-config', connectedConfig, '--json', 'web-box', '/srv/my project'], { PATH: process.env.PATH });
    expect(withoutCode.code).toBe(0);
    expect(withoutCode.stderr).toBe("boxyard: VS Code's `code` command is not on PATH; open this link instead:\n");
    expect(JSON.parse(withoutCode.stdout)).toEqual({ box: 'web-box', path: '/srv/my project', url: 'vscode://vscode-remote/ssh-remote+web-box/srv/my%20project', launched: false });
  }, 60_000);

  it('open without the entry of boxyard connect says to run it', async () => {
    const opened = await boxyard(['open', '--ssh-config', bareConfig, 'web-box']);
    expect(opened).toEqual({ code: 1, stdout: '', stderr: `boxyard: ${bareConfig} has no entry for web-box (VS Code connects through it): run \`boxyard connect\` first\n` });
    expect(existsSync(codeArgv)).toBe(false);
  });
});

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { createApiToken, revokeApiToken } from '../server/access-keys/api-tokens';
import { LAB_START_TIMEOUT_MS } from '../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { runProxy } from './proxy';

/**
 * The real OpenSSH ssh and scp through `boxyard proxy` (the CLI process, as the ProxyCommand `boxyard connect` writes
 * runs it) and the dashboard's tunnel to a lab box. The entries name no address of the box and the box's alias does
 * not resolve, so the traffic can only have come through the dashboard; the box's sshd sees it from its own loopback.
 */

const run = (file: string, args: string[], env: NodeJS.ProcessEnv) => runProcess(file, args, { env, timeoutMs: 120_000, maxBuffer: 64 * 1024 * 1024 });



/** runProxy in-process with its three streams captured; stdin stays open until `end`. */
async function proxyOnce(url: string, token: string, box: string): Promise<{ code: number; stderr: string }> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let errText = '';
  stderr.on('data', (chunk: Buffer) => (errText += chunk.toString()));
  stdout.resume();
  const code = await runProxy({ url, token, box, stdin, stdout, stderr });
  return { code, stderr: errText };
}

describe('boxyard proxy: ssh and scp through the dashboard', () => {
  let backend: Backend;
  let lab: LabBox;
  let alice: TestUser;
  let bob: TestUser;
  let url: string;
  let aliceToken: string;
  let sharedBoxId: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-proxy-home-'));
  const sshConfig = path.join(home, '.ssh', 'config');
  const labKey = path.join(home, 'lab_ed25519');
  const env = { PATH: process.env.PATH, HOME: home, NODE_ENV: 'test' } as NodeJS.ProcessEnv;
  const sshOptions = (config: string) => [
    '-F', config,
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', `UserKnownHostsFile=${path.join(home, 'known_hosts')}`,
    '-o', 'BatchMode=yes',
    '-o', 'ControlMaster=no',
    '-o', 'ControlPath=none',
  ];

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'proxy' })]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    await lab.authorize(backend.services.dashboardPublicKey);
    alice = await backend.addUser('alice@example.com');
    bob = await backend.addUser('bob@example.com');
    await backend.addBox('tunnel-box', lab, alice);
    await backend.addBox('admins-box', lab, backend.admin);
    sharedBoxId = (await backend.addBox('shared-box', lab, backend.admin, [bob])).id;
    ({ token: aliceToken } = await createApiToken(backend.services.db, alice.user, 'proxy test'));
    writeFileSync(labKey, lab.privateKey, { mode: 0o600 });
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
    rmSync(home, { recursive: true, force: true });
  });

  it('connect writes entries with only a ProxyCommand (no address of the box, no token) and keeps the token in the 0600 login', async () => {
    const ran = await run(TSX, [CLI, 'connect', '--url', url, '--token', aliceToken, '--identity-file', labKey, '--no-docker-contexts'], env);
    expect(ran.stderr).not.toMatch(/boxyard:/);
    expect(ran.code).toBe(0);
    const credentials = path.join(home, '.config', 'boxyard', 'credentials.json');
    expect(JSON.parse(readFileSync(credentials, 'utf8'))).toEqual({ url, token: aliceToken, email: 'alice@example.com' });
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    const config = readFileSync(sshConfig, 'utf8');
    expect(config).not.toContain(aliceToken);
    const entry = config.split('\n').filter((line) => line.startsWith('  '));
    expect(entry.some((line) => /HostName|Port /.test(line))).toBe(false);
    const proxyLine = entry.find((line) => line.startsWith('  ProxyCommand '));
    expect(proxyLine).toMatch(new RegExp(`^  ProxyCommand \\S+node .*${CLI.replaceAll('/', '\\/')} proxy --url ${url.replaceAll('/', '\\/')} --credentials ${credentials.replaceAll('/', '\\/')} %n$`));
  });

  it('the real ssh reaches the box by an alias that does not resolve, and the box sees it from its own loopback', async () => {
    await expect(lookup('tunnel-box')).rejects.toThrow();
    const ran = await run('ssh', [...sshOptions(sshConfig), 'tunnel-box', 'echo "$USER $SSH_CONNECTION"'], env);
    expect(ran.stderr).not.toMatch(/boxyard:/);
    expect(ran.code).toBe(0);
    // SSH_CONNECTION = client address, client port, server address, server port (as the box's sshd saw them).
    const [user, clientAddress, , serverAddress, serverPort] = ran.stdout.trim().split(' ');
    expect({ user, clientAddress, serverAddress, serverPort }).toEqual({ user: 'dev', clientAddress: '127.0.0.1', serverAddress: '127.0.0.1', serverPort: '22' });

    const audit = await backend.services.db.auditEvent.findMany({ where: { action: { in: ['tunnel.open', 'tunnel.close'] }, boxName: 'tunnel-box' }, orderBy: { at: 'asc' } });
    expect(audit.map((event) => [event.action, event.result, event.actorEmail])).toEqual([
      ['tunnel.open', 'ok', 'alice@example.com'],
      ['tunnel.close', 'ok', 'alice@example.com'],
    ]);
    const closed = JSON.parse(audit[1]!.detail) as Record<string, unknown>;
    expect(closed).toMatchObject({ user: 'alice@example.com', port: 22, via: 'api-token' });
    expect(closed.bytesUp).toBeGreaterThan(1000);
    expect(closed.bytesDown).toBeGreaterThan(1000);
    expect(closed.durationMs).toBeGreaterThan(0);
  });

  it('scp copies 8 MiB up and back through the tunnel, byte for byte', async () => {
    const local = path.join(home, 'payload.bin');
    const back = path.join(home, 'payload.back');
    const payload = randomBytes(8 * 1024 * 1024);
    writeFileSync(local, payload);
    const up = await run('scp', [...sshOptions(sshConfig), local, 'tunnel-box:/tmp/payload.bin'], env);
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    const down = await run('scp', [...sshOptions(sshConfig), 'tunnel-box:/tmp/payload.bin', back], env);
    expect(down.code).toBe(0);
    const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
    expect(sha(readFileSync(back))).toBe(sha(payload));
  });

  it('refuses without a token, with a revoked one, and for a box the user may not reach exactly as for an unknown one', async () => {
    const none = await proxyOnce(url, '', 'tunnel-box');
    expect(none).toEqual({ code: 1, stderr: 'boxyard: Sign in first (your session may have expired).\n' });

    const unknown = await proxyOnce(url, aliceToken, 'no-such-box');
    const notHers = await proxyOnce(url, aliceToken, 'admins-box');
    expect(unknown).toEqual({ code: 1, stderr: 'boxyard: No such box, or you do not have access to it.\n' });
    expect(notHers).toEqual(unknown);

    const { token, apiToken } = await createApiToken(backend.services.db, alice.user, 'soon revoked');
    await revokeApiToken(backend.services.db, alice.user, apiToken.id);
    expect(await proxyOnce(url, token, 'tunnel-box')).toEqual({
      code: 1,
      stderr: 'boxyard: This API token was revoked; make a new one on your profile page.\n',
    });
  });

  it('access removed mid-tunnel: the ssh session is cut within 5 s, and the audit has the open and the close', async () => {
    const { token } = await createApiToken(backend.services.db, bob.user, 'bob laptop');
    const ssh = spawn('ssh', [
      ...sshOptions('/dev/null'),
      '-o', `ProxyCommand ${TSX} ${CLI} proxy --url ${url} --token ${token} %n`,
      '-o', `IdentityFile=${labKey}`,
      '-l', 'dev',
      'shared-box', 'echo connected; sleep 120',
    ], { env });
    let stdout = '';
    let stderr = '';
    ssh.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    ssh.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number>((resolve) => ssh.once('exit', (code) => resolve(code ?? -1)));
    try {
      await until(() => stdout.includes('connected'), 'ssh to connect', { describe: () => stderr });
      expect(backend.services.tunnels.tunnelsOn(sharedBoxId)).toEqual(['ssh by bob@example.com']);
      const removedAt = performance.now();
      await backend.services.db.boxMember.deleteMany({ where: { boxId: sharedBoxId, userId: bob.user.id } });
      const code = await exited;
      expect(performance.now() - removedAt).toBeLessThan(5_000);
      expect(code).not.toBe(0);
      expect(stderr).toContain('boxyard: Your access to shared-box was removed.');
    } finally {
      ssh.kill();
    }
    await until(async () => (await backend.services.db.auditEvent.count({ where: { action: 'tunnel.close', boxId: sharedBoxId } })) === 1, 'the tunnel.close audit entry', 5_000);
    const audit = await backend.services.db.auditEvent.findMany({ where: { boxId: sharedBoxId, action: { startsWith: 'tunnel.' } }, orderBy: { at: 'asc' } });
    expect(audit.map((event) => [event.action, event.actorEmail])).toEqual([
      ['tunnel.open', 'bob@example.com'],
      ['tunnel.close', 'bob@example.com'],
    ]);
    expect(JSON.parse(audit[1]!.detail)).toMatchObject({ reason: 'Your access to shared-box was removed.', code: 4403 });
    expect(backend.services.tunnels.tunnelsOn(sharedBoxId)).toEqual([]);
  });
});

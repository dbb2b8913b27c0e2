// Checks the lab's boxes with the real OpenSSH client, the way the app's users will reach their boxes.
// No skipping: without docker these tests must fail, since every other suite depends on the lab.
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labKeyPair, startLabBox, startLabBoxes, type LabBox } from './lab';

const SETUP_TIMEOUT_MS = 300_000; // a cold image build (debootstrap) takes about 30 s, more on a slow mirror

let tempDir: string;
let keyFile: string;

interface SshOptions { identityFile?: string; password?: string; timeoutMs?: number }

function ssh(box: LabBox, command: string, options: SshOptions = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const auth = options.password === undefined
    ? ['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-i', options.identityFile ?? keyFile]
    : ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no', '-o', 'NumberOfPasswordPrompts=1'];
  const args = [
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=5', ...auth, '-p', String(box.port), `${box.user}@${box.host}`, command,
  ];
  // ssh reads a password only from a TTY or SSH_ASKPASS; the askpass script echoes BOX_PASSWORD.
  const env = options.password === undefined
    ? process.env
    : { ...process.env, SSH_ASKPASS: join(tempDir, 'askpass.sh'), SSH_ASKPASS_REQUIRE: 'force', BOX_PASSWORD: options.password };
  return new Promise((resolve) => {
    execFile('ssh', args, { env, timeout: options.timeoutMs ?? 30_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ stdout, stderr, code });
    });
  });
}

/** The host key fingerprint as the client sees it over the network. */
function scannedFingerprint(box: LabBox): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['-c', `ssh-keyscan -t ed25519 -p ${box.port} 127.0.0.1 2>/dev/null | ssh-keygen -lf -`], (error, stdout) => {
      const fingerprint = /SHA256:\S+/.exec(stdout)?.[0];
      if (error || !fingerprint) reject(new Error(`ssh-keyscan of ${box.name} failed: ${error?.message ?? stdout}`));
      else resolve(fingerprint);
    });
  });
}

beforeAll(async () => {
  tempDir = await mkdtemp(join(tmpdir(), 'boxyard-lab-test-'));
  keyFile = join(tempDir, 'id_ed25519');
  await writeFile(keyFile, (await labKeyPair()).privateKey, { mode: 0o600 });
  await writeFile(join(tempDir, 'askpass.sh'), '#!/bin/sh\nprintf "%s\\n" "$BOX_PASSWORD"\n');
  await chmod(join(tempDir, 'askpass.sh'), 0o700);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await rm(tempDir, { recursive: true, force: true });
});

describe('a lab box', () => {
  let box: LabBox;

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'boxyard-lab-test' });
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await box?.remove();
  });

  it('accepts the lab key for dev', async () => {
    const result = await ssh(box, 'whoami');
    expect(result).toMatchObject({ code: 0, stdout: 'dev\n' });
  });

  it('accepts dev\'s password', async () => {
    const result = await ssh(box, 'whoami', { password: box.password });
    expect(result).toMatchObject({ code: 0, stdout: 'dev\n' });
    const wrong = await ssh(box, 'whoami', { password: `${box.password}x` });
    expect(wrong.code).toBe(255);
  });

  it('gives dev passwordless sudo', async () => {
    const result = await ssh(box, 'sudo -n true && sudo -n id -un');
    expect(result).toMatchObject({ code: 0, stdout: 'root\n' });
  });

  it('runs root commands and reports their exit code without throwing', async () => {
    await expect(box.root('echo out; echo err >&2; exit 7')).resolves.toEqual({ stdout: 'out\n', stderr: 'err\n', code: 7 });
  });

  it('authorizes another key', async () => {
    const otherKey = join(tempDir, 'other_ed25519');
    await new Promise<void>((resolve, reject) => {
      execFile('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey], (error) => (error ? reject(error) : resolve()));
    });
    expect((await ssh(box, 'true', { identityFile: otherKey })).code).toBe(255);
    await box.authorize(await readFile(`${otherKey}.pub`, 'utf8'));
    expect(await ssh(box, 'echo ok', { identityFile: otherKey })).toMatchObject({ code: 0, stdout: 'ok\n' });
  });

  it('stops sshd, ending open sessions, and starts it again', async () => {
    const openSession = ssh(box, 'echo started; sleep 60', { timeoutMs: 90_000 });
    // The session is open once its sshd child runs the shell.
    await expect.poll(async () => (await box.root('pgrep -u dev -x sleep')).code, { timeout: 10_000 }).toBe(0);

    await box.stopSshd();
    const ended = await openSession;
    expect(ended.code).toBe(255); // connection closed by the server, well before `sleep 60` ends
    expect(ended.stdout).toBe('started\n');
    const refused = await ssh(box, 'true');
    expect(refused.code).toBe(255);
    expect((await box.root('pgrep -x sshd')).code).toBe(1);
    expect((await box.root('true')).code).toBe(0); // the container itself keeps running

    await box.startSshd();
    expect(await ssh(box, 'whoami')).toMatchObject({ code: 0, stdout: 'dev\n' });
  }, 60_000);

  it('reports the host key the server presents, and replaces it on regenerateHostKeys', async () => {
    const before = await box.hostKeyFingerprint();
    expect(before).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(await scannedFingerprint(box)).toBe(before);
    expect(await box.hostKeyFingerprint('rsa')).toMatch(/^SHA256:/);
    expect(await box.hostKeyFingerprint('ecdsa')).toMatch(/^SHA256:/);

    await box.regenerateHostKeys();
    const after = await box.hostKeyFingerprint();
    expect(after).not.toBe(before);
    expect(await scannedFingerprint(box)).toBe(after);
    expect((await ssh(box, 'true')).code).toBe(0);
  }, 60_000);
});

describe('several lab boxes', () => {
  it('each have their own port and host keys', async () => {
    const boxes = await startLabBoxes(2, { namePrefix: 'boxyard-lab-test' });
    try {
      const [first, second] = boxes;
      expect(first.port).not.toBe(second.port);
      expect(await first.hostKeyFingerprint()).not.toBe(await second.hostKeyFingerprint());
      expect(await first.hostKeyFingerprint('rsa')).not.toBe(await second.hostKeyFingerprint('rsa'));
      for (const box of boxes) expect((await ssh(box, 'hostname')).stdout).toBe(`${box.name}\n`);
    } finally {
      await Promise.all(boxes.map((box) => box.remove()));
    }
  }, SETUP_TIMEOUT_MS);
});

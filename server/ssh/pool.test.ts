// Integration tests of SshPool against real OpenSSH sshd boxes from the lab (testing/lab/lab.ts).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startLabBoxes, type LabBox } from '../../testing/lab/lab';
import { AppError, isAppError } from '../errors';
import type { HostKeyInfo } from './hostkey';
import { HostKeyMismatchError } from './hostkey';
import { generateDashboardKeyPair } from './keys';
import { SshPool, type SshPoolOptions, type SshTarget } from './pool';
import { sh, type ShellCommand } from './quote';
import { freePort } from '../../testing/helpers/process';
import { LAB_START_TIMEOUT_MS, labTarget } from '../../testing/helpers/ssh';
import { until } from '../../testing/helpers/wait';

let box: LabBox; // shared, left as it is
let victim: LabBox; // its sshd gets stopped and its host keys regenerated
let pools: SshPool[] = [];

beforeAll(async () => {
  [box, victim] = await startLabBoxes(2, { namePrefix: 'boxyard-pool' });
}, LAB_START_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([box?.remove(), victim?.remove()]);
});

afterEach(async () => {
  await Promise.all(pools.map((pool) => pool.stop()));
  pools = [];
});

function newPool(options: Partial<SshPoolOptions> = {}): SshPool {
  const pool = new SshPool(options);
  pool.start();
  pools.push(pool);
  return pool;
}

/** The AppError a promise rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<AppError> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a failure, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof AppError)) throw outcome.error;
  return outcome.error;
}

/** ESTABLISHED TCP connections to the box's sshd, counted inside the box. */
async function sshConnections(lab: LabBox): Promise<number> {
  const result = await lab.root(`ss -Htn state established '( sport = :22 )' | wc -l`);
  return Number(result.stdout.trim());
}

const run = (pool: SshPool, target: SshTarget, command: ShellCommand, timeoutMs = 10_000, id = 'box') =>
  pool.exec(id, target, command, { timeoutMs });

describe('exec', () => {
  it('returns stdout, stderr, exit code and duration; a non-zero exit is a result', async () => {
    const pool = newPool();
    const result = await run(pool, labTarget(box), sh`echo out; echo err >&2; exit 3`);
    expect(result).toMatchObject({ stdout: 'out\n', stderr: 'err\n', code: 3, signal: null });
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('reports a command killed by a signal', async () => {
    const result = await run(newPool(), labTarget(box), sh`kill -TERM $$`);
    expect(result).toMatchObject({ code: null, signal: 'SIGTERM' });
  });

  it('feeds stdin, text and binary', async () => {
    const pool = newPool();
    const target = labTarget(box);
    expect((await pool.exec('box', target, sh`cat`, { timeoutMs: 10_000, stdin: 'hello\nwörld 😀' })).stdout).toBe('hello\nwörld 😀');
    const data = randomBytes(1024 * 1024);
    const result = await pool.exec('box', target, sh`sha256sum`, { timeoutMs: 10_000, stdin: data });
    expect(result.stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('gives commands that read stdin an immediate EOF when there is none', async () => {
    expect((await run(newPool(), labTarget(box), sh`wc -c`, 5_000)).stdout.trim()).toBe('0');
  });

  it('times out: SSH_TIMEOUT, the remote command is killed, the connection stays usable', async () => {
    const pool = newPool();
    const target = labTarget(box);
    await run(pool, target, sh`true`);
    const started = Date.now();
    const error = await failure(run(pool, target, sh`sleep 10; echo finished`, 500));
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(error.code).toBe('SSH_TIMEOUT');
    expect(error.message).toBe(`the command did not finish within 0.5 s on 127.0.0.1:${box.port} and was stopped`);
    expect((await run(pool, target, sh`echo still here`)).stdout).toBe('still here\n');
    await until(async () => (await box.root('pgrep -x sleep || true')).stdout === '', 'the remote sleep gone', 5_000);
    await until(() => pool.stats().openChannels === 0, 'no open channel', 5_000);
    expect(await sshConnections(box)).toBe(1);
  });

  it('stops a command whose output passes the cap, with a clear error', async () => {
    const pool = newPool({ maxOutputBytes: 64 * 1024 });
    const target = labTarget(box);
    const error = await failure(run(pool, target, sh`head -c 10000000 /dev/zero`));
    expect(error.code).toBe('REMOTE_COMMAND_FAILED');
    expect(error.message).toMatch(/printed more than 64 KiB and was stopped/);
    expect((await run(pool, target, sh`echo ok`)).stdout).toBe('ok\n');
  });

  it('cancels through an AbortSignal with the caller’s reason', async () => {
    const pool = newPool();
    const controller = new AbortController();
    const pending = pool.exec('box', labTarget(box), sh`sleep 5`, { timeoutMs: 10_000, signal: controller.signal });
    await until(async () => (await box.root('pgrep -x sleep || true')).stdout !== '', 'the remote sleep running', 5_000);
    controller.abort(new Error('user cancelled'));
    await expect(pending).rejects.toThrow('user cancelled');
    await until(async () => (await box.root('pgrep -x sleep || true')).stdout === '', 'the remote sleep gone', 5_000);
  });

  it('refuses anything but a ShellCommand', async () => {
    const error = await failure(newPool().exec('box', labTarget(box), 'id' as unknown as ShellCommand, { timeoutMs: 1_000 }));
    expect(error.code).toBe('INTERNAL');
  });
});

describe('connection reuse and channel cap', () => {
  it('uses one TCP connection for 30 sequential and 30 parallel commands', async () => {
    const pool = newPool();
    const target = labTarget(box);
    for (let i = 0; i < 30; i++) expect((await run(pool, target, sh`echo ${i}`)).stdout).toBe(`${i}\n`);
    expect(await sshConnections(box)).toBe(1);

    const parallel = Array.from({ length: 30 }, (_, i) => run(pool, target, sh`sleep 0.2; echo ${i}`));
    const during = await sshConnections(box);
    const results = await Promise.all(parallel);
    expect(results.map((result) => result.stdout)).toEqual(Array.from({ length: 30 }, (_, i) => `${i}\n`));
    expect(during).toBe(1);
    expect(await sshConnections(box)).toBe(1);
    expect(pool.stats()).toMatchObject({ connections: 1, openChannels: 0, queued: 0 });
  });

  it('never runs more commands at once than the cap; the rest queue', async () => {
    const pool = newPool({ maxChannelsPerConnection: 3 });
    const target = labTarget(box);
    const dir = `/tmp/cap-${randomBytes(4).toString('hex')}`;
    // Each command registers itself, records how many are registered, waits, and leaves.
    const probe = sh`mkdir -p ${dir} && touch ${dir}/$$ && ls ${dir} | wc -l >> ${`${dir}.log`} && sleep 0.3 && rm ${dir}/$$`;
    let maxOpen = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => {
      maxOpen = Math.max(maxOpen, pool.stats().openChannels);
      maxQueued = Math.max(maxQueued, pool.stats().queued);
    }, 10);
    const results = await Promise.all(Array.from({ length: 9 }, () => run(pool, target, probe)));
    clearInterval(sampler);
    expect(results.every((result) => result.code === 0)).toBe(true);
    const seen = (await box.root(`cat ${dir}.log`)).stdout.trim().split('\n').map(Number);
    expect(seen).toHaveLength(9);
    expect(Math.max(...seen)).toBeLessThanOrEqual(3);
    expect(maxOpen).toBe(3);
    expect(maxQueued).toBeGreaterThan(0);
  });

  it('keeps 40 parallel commands under OpenSSH’s MaxSessions with the default cap', async () => {
    const pool = newPool();
    const results = await Promise.all(Array.from({ length: 40 }, () => run(pool, labTarget(box), sh`sleep 0.1`)));
    expect(results.every((result) => result.code === 0)).toBe(true);
  });

  it('times out waiting for a free channel with a message saying so', async () => {
    const pool = newPool({ maxChannelsPerConnection: 1 });
    const target = labTarget(box);
    const busy = run(pool, target, sh`sleep 1`);
    await until(() => pool.stats().openChannels === 1, 'one open channel', 5_000);
    const error = await failure(run(pool, target, sh`true`, 300));
    expect(error.code).toBe('SSH_TIMEOUT');
    expect(error.message).toMatch(/waiting for a free SSH channel/);
    expect((await busy).code).toBe(0);
  });

  it('lends the connection for other channel types (SFTP) through withConnection', async () => {
    const pool = newPool();
    const target = labTarget(box);
    await run(pool, target, sh`true`);
    const names = await pool.withConnection('box', target, (client) =>
      new Promise<string[]>((resolve, reject) => {
        client.sftp((error, sftp) => {
          if (error) return reject(error);
          sftp.readdir('/home/dev', (readError, list) => {
            sftp.end();
            if (readError) reject(readError);
            else resolve(list.map((entry) => entry.filename));
          });
        });
      }),
    );
    expect(names).toContain('.ssh');
    expect(await sshConnections(box)).toBe(1);
  });

  it('replaces the connection when the target config changes', async () => {
    const pool = newPool();
    await run(pool, labTarget(box), sh`true`);
    const byPassword = labTarget(box, { auth: { kind: 'password', password: box.password } });
    expect((await run(pool, byPassword, sh`echo again`)).stdout).toBe('again\n');
    await until(async () => (await sshConnections(box)) === 1, 'one SSH connection on the box', 5_000);
    expect(pool.stats().connections).toBe(1);
  });

  it('refresh() gives later commands a new login while running ones finish on the old connection', async () => {
    const pool = newPool();
    const sessionOf = async () => (await run(pool, labTarget(box), sh`ps -o ppid= -p $$`)).stdout.trim();
    const before = await sessionOf();
    const running = run(pool, labTarget(box), sh`sleep 1; echo finished`);
    await until(() => pool.stats().openChannels === 1, 'one open channel', 5_000);
    pool.refresh('box');
    const after = await sessionOf();
    expect(after).not.toBe(before);
    expect((await running).stdout).toBe('finished\n');
    await until(async () => (await sshConnections(box)) === 1, 'one SSH connection on the box', 5_000);
    expect(await sessionOf()).toBe(after);
  });

  it('closes idle connections', async () => {
    const pool = newPool({ idleTimeoutMs: 300 });
    await run(pool, labTarget(box), sh`true`);
    await until(() => pool.stats().connections === 0, 'no pooled connection', 3_000);
    await until(async () => (await sshConnections(box)) === 0, 'no SSH connection on the box', 5_000);
    expect((await run(pool, labTarget(box), sh`echo back`)).stdout).toBe('back\n');
  });

  it('connect() logs in without running anything, and reuses the connection', async () => {
    const pool = newPool();
    await pool.connect('box', labTarget(box));
    await pool.connect('box', labTarget(box));
    expect(pool.stats().connections).toBe(1);
    expect(await sshConnections(box)).toBe(1);
  });

  it('stop() closes every connection and leaves no open handles', async () => {
    const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;
    const before = sockets();
    const pool = new SshPool();
    pool.start();
    await Promise.all([
      run(pool, labTarget(box), sh`true`, 10_000, 'a'),
      run(pool, labTarget(victim), sh`true`, 10_000, 'b'),
    ]);
    const longRunning = failure(run(pool, labTarget(box), sh`sleep 5`, 10_000, 'a'));
    await until(() => pool.stats().openChannels === 1, 'one open channel', 5_000);
    expect(sockets()).toBe(before + 2);
    await pool.stop();
    expect(pool.stats()).toEqual({ connections: 0, connecting: 0, openChannels: 0, queued: 0, failing: 0 });
    expect((await longRunning).code).toBe('SSH_DISCONNECTED');
    expect(sockets()).toBe(before);
    expect(await sshConnections(box)).toBe(0);
    expect((await failure(run(pool, labTarget(box), sh`true`))).message).toMatch(/not running/);
  });
});

describe('host key pinning', () => {
  it('pins on first connect with the fingerprint ssh-keygen -lf gives, then accepts the pin on the same connection', async () => {
    const pool = newPool();
    const pinned: HostKeyInfo[] = [];
    const target = labTarget(victim, { onHostKeyPinned: (key) => void pinned.push(key) });
    await run(pool, target, sh`true`);
    expect(pinned).toEqual([{ fingerprint: await victim.hostKeyFingerprint(), algorithm: 'ssh-ed25519', blob: (await victim.hostPublicKey()).blob }]);
    // The caller now passes the stored pin: same connection, no second callback.
    await run(pool, { ...target, pinnedHostKey: pinned[0].fingerprint, pinnedHostKeyType: pinned[0].algorithm }, sh`true`);
    expect(pinned).toHaveLength(1);
    expect(await sshConnections(victim)).toBe(1);
  });

  it('refuses the connection when saving the pin fails', async () => {
    const pool = newPool();
    const target = labTarget(victim, {
      onHostKeyPinned: () => {
        throw new AppError('INTERNAL', 'database is down');
      },
    });
    expect((await failure(run(pool, target, sh`true`))).message).toBe('database is down');
    await until(async () => (await sshConnections(victim)) === 0, 'no SSH connection on the victim', 5_000);
  });

  it('hands the full key to a caller whose pin is a fingerprint only; failing to store it does not refuse the connection', async () => {
    const pool = newPool();
    const verified: HostKeyInfo[] = [];
    const target = labTarget(victim, {
      pinnedHostKey: await victim.hostKeyFingerprint(),
      pinnedHostKeyType: 'ssh-ed25519',
      onPinnedKeyVerified: (key) => {
        verified.push(key);
        throw new AppError('INTERNAL', 'database is down');
      },
    });
    expect((await run(pool, target, sh`echo ran`)).stdout).toBe('ran\n');
    expect(verified).toEqual([{ fingerprint: await victim.hostKeyFingerprint(), algorithm: 'ssh-ed25519', blob: (await victim.hostPublicKey()).blob }]);
  });

  it('refuses a changed host key before running anything, naming both fingerprints', async () => {
    const pool = newPool();
    const oldFingerprint = await victim.hostKeyFingerprint();
    const verified: HostKeyInfo[] = [];
    const pinnedTarget = labTarget(victim, { pinnedHostKey: oldFingerprint, pinnedHostKeyType: 'ssh-ed25519', onPinnedKeyVerified: (key) => void verified.push(key) });
    await run(pool, pinnedTarget, sh`true`);

    await victim.regenerateHostKeys();
    const newFingerprint = await victim.hostKeyFingerprint();
    expect(newFingerprint).not.toBe(oldFingerprint);
    const marker = `/tmp/ran-${randomBytes(4).toString('hex')}`;
    await until(() => pool.stats().connections === 0, 'no pooled connection', 5_000);
    const error = await failure(run(pool, pinnedTarget, sh`touch ${marker}`));

    expect(error).toBeInstanceOf(HostKeyMismatchError);
    expect(error.code).toBe('SSH_HOST_KEY_MISMATCH');
    expect(error.message).toContain(`host key changed: expected ${oldFingerprint}, got ${newFingerprint}`);
    expect((error as HostKeyMismatchError).offered).toEqual({ fingerprint: newFingerprint, algorithm: 'ssh-ed25519', blob: (await victim.hostPublicKey()).blob });
    expect((await victim.root(`test -e ${marker} && echo ran || echo not-run`)).stdout.trim()).toBe('not-run');
    // Only the connection with the pinned key handed it on: a different key is never given as the pinned one.
    expect(verified.map((key) => key.fingerprint)).toEqual([oldFingerprint]);

    // An admin re-pins to the offered key: the new config connects at once, without waiting out the backoff.
    const repinned = { ...pinnedTarget, pinnedHostKey: (error as HostKeyMismatchError).offered.fingerprint };
    expect((await run(pool, repinned, sh`touch ${marker} && echo ran`)).stdout).toBe('ran\n');
  });
});

describe('connection failures', () => {
  it('fails with SSH_UNREACHABLE while sshd is down, fails fast during backoff, and reconnects once it is back', async () => {
    const pool = newPool({ backoffInitialMs: 400, backoffMaxMs: 2_000 });
    const target = labTarget(victim, { pinnedHostKey: null });
    await run(pool, target, sh`true`);

    await victim.stopSshd();
    await until(() => pool.stats().connections === 0, 'no pooled connection', 5_000);
    const down = await failure(run(pool, target, sh`true`));
    expect(down.code).toBe('SSH_UNREACHABLE');
    // docker-proxy holds the published port, so a stopped sshd shows as a closed connection, not a refusal.
    expect(down.message).toMatch(/connection refused on 127\.0\.0\.1|was closed before the SSH server answered/);
    const started = performance.now();
    const again = await failure(run(pool, target, sh`true`));
    expect(again).toBe(down);
    expect(performance.now() - started).toBeLessThan(50);
    expect(pool.stats().failing).toBe(1);

    await victim.startSshd();
    const backAt = Date.now();
    let attempts = 0;
    await until(async () => {
      attempts++;
      const outcome = await run(pool, target, sh`echo back`).catch((error: unknown) => error);
      if (isAppError(outcome)) {
        expect(outcome.code).toBe('SSH_UNREACHABLE');
        return false;
      }
      return (outcome as { stdout: string }).stdout === 'back\n';
    }, 'the box back', 5_000);
    expect(Date.now() - backAt).toBeLessThan(2_500);
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(pool.stats().failing).toBe(0);
  });

  it('a closed port is SSH_UNREACHABLE: connection refused', async () => {
    const port = await freePort();
    const error = await failure(run(newPool(), { ...labTarget(box), port }, sh`true`));
    expect(error.code).toBe('SSH_UNREACHABLE');
    expect(error.message).toMatch(new RegExp(`^connection refused on 127\\.0\\.0\\.1:${port}`));
    expect(error.internal).toMatch(/ECONNREFUSED/);
  });

  it('a port that never answers times out with SSH_UNREACHABLE', async () => {
    const { server, port, sockets } = await silentServer();
    try {
      const started = Date.now();
      const error = await failure(run(newPool({ connectTimeoutMs: 500 }), { ...labTarget(box), port }, sh`true`));
      expect(error.code).toBe('SSH_UNREACHABLE');
      expect(error.message).toMatch(new RegExp(`^timed out connecting to 127\\.0\\.0\\.1:${port} after 0\\.5 s`));
      expect(Date.now() - started).toBeLessThan(1_500);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a wrong password is SSH_AUTH_FAILED naming the user', async () => {
    const target = labTarget(box, { auth: { kind: 'password', password: 'not-the-password' } });
    const error = await failure(run(newPool(), target, sh`true`));
    expect(error.code).toBe('SSH_AUTH_FAILED');
    expect(error.message).toBe(
      `permission denied for user dev on 127.0.0.1:${box.port} (the box did not accept the password, or does not allow password logins)`,
    );
  });

  it('a key the box does not accept is SSH_AUTH_FAILED; once authorized it works', async () => {
    const key = generateDashboardKeyPair('boxyard-test');
    const target = labTarget(box, { auth: { kind: 'key', privateKey: key.privateKey } });
    const error = await failure(run(newPool(), target, sh`true`));
    expect(error.code).toBe('SSH_AUTH_FAILED');
    expect(error.message).toMatch(/^permission denied for user dev on 127\.0\.0\.1:\d+ \(the box did not accept the SSH key/);
    await box.authorize(key.publicKey);
    expect((await run(newPool(), target, sh`whoami`)).stdout).toBe('dev\n');
  });

  it('an encrypted key without its passphrase is SSH_AUTH_FAILED with the reason', async () => {
    const { utils } = (await import('ssh2')).default;
    const encrypted = utils.generateKeyPairSync('ed25519', { passphrase: 'secret', cipher: 'aes256-ctr', rounds: 4 });
    const target = labTarget(box, { auth: { kind: 'key', privateKey: encrypted.private } });
    const error = await failure(run(newPool(), target, sh`true`));
    expect(error.code).toBe('SSH_AUTH_FAILED');
    expect(error.message).toMatch(/cannot be used: this private key is encrypted: enter its passphrase/);
  });
});

describe('figures', () => {
  it('measures connect time and exec latency through the pool', async () => {
    const pool = newPool();
    const target = labTarget(box);
    const timed = async (command: ShellCommand) => {
      const started = performance.now();
      await run(pool, target, command);
      return performance.now() - started;
    };
    const first = await timed(sh`true`);
    const sequential: number[] = [];
    for (let i = 0; i < 50; i++) sequential.push(await timed(sh`true`));
    sequential.sort((a, b) => a - b);
    const parallelStart = performance.now();
    await Promise.all(Array.from({ length: 100 }, () => run(pool, target, sh`true`)));
    const parallel = performance.now() - parallelStart;
    console.log(
      `ssh pool figures: first exec (connect + login + exec) ${first.toFixed(0)} ms; ` +
        `sequential exec median ${sequential[25].toFixed(1)} ms, p95 ${sequential[47].toFixed(1)} ms; ` +
        `100 parallel execs (cap 8) ${parallel.toFixed(0)} ms`,
    );
    expect(sequential[25]).toBeLessThan(first);
  });
});

/** Accepts TCP connections and never says anything: a box whose sshd hangs. */
function silentServer(): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  return new Promise((resolve, reject) => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, sockets }));
  });
}

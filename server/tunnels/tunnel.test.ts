// The tunnel endpoint against a real lab box: flow control both ways (a slow side never grows the dashboard's
// buffers past a bound), the cookie's Origin rule, wake on connect through the service's wake port with progress
// frames, and the dashboard stopping under an open tunnel.
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProxy } from '../../cli/proxy';
import { createApiToken } from '../access-keys/api-tokens';
import { AppError } from '../errors';
import type { SessionUser } from '../boxes/access';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { listenWithWake, TunnelClient } from '../../testing/helpers/tunnels';
import { until } from '../../testing/helpers/wait';
import { startLabBox, type LabBox } from '../../testing/lab/lab';

const MiB = 1024 * 1024;
/**
 * The dashboard's own buffers of one tunnel may hold at most this, whatever the stream's length: towards the client
 * the 1 MiB high-water mark (plus a frame), from the box ssh2's readable buffer (its 2 MiB high-water mark plus the
 * 2 MiB window the box may still fill after the pause; measured peak 3.4 MiB), towards the box ssh2's 2 MiB writable.
 */
const BUFFER_BOUND = 6 * MiB;
/**
 * What the kernel may hold of one stream beyond the dashboard: the paused client's receive buffer and the
 * dashboard's send buffer, each autotuned on loopback up to its sysctl maximum (32 MiB of receive buffer on this
 * machine, which a first run with a fixed 16 MiB bound tripped over).
 */
const kernelBufferMax = () =>
  ['tcp_rmem', 'tcp_wmem'].reduce((sum, name) => sum + Number(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim().split(/\s+/)[2]), 0);

describe('tunnel endpoint', () => {
  let backend: Backend;
  let lab: LabBox;
  let ana: TestUser;
  let base: string;
  let token: string;
  let boxId: string;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'tunnel' })]);
    await lab.authorize(backend.services.dashboardPublicKey);
    base = await backend.listen();
    ana = await backend.addUser('ana@example.com');
    boxId = (await backend.addBox('tunnel-box', lab, ana)).id;
    ({ token } = await createApiToken(backend.services.db, ana.user, 'tunnel test'));
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
  });

  /** Runs a perl one-liner on the box in the background (as dev), listening on 127.0.0.1:port. */
  const listenOnBox = async (port: number, script: string) => {
    const file = `/tmp/listen-${port}.pl`;
    const ran = await lab.root(
      `echo ${Buffer.from(`use IO::Socket::INET; ${script}`).toString('base64')} | base64 -d >${file} && su dev -c 'setsid perl ${file} >${file}.log 2>&1 </dev/null &'`,
    );
    expect(ran).toMatchObject({ code: 0 });
    await until(async () => (await lab.root(`ss -ltn 'sport = :${port}' | grep -c LISTEN`)).stdout.trim() === '1', `a listener on port ${port}`, 10_000);
  };
  const listener = (port: number) => `$s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1:${port}",Listen=>1,ReuseAddr=>1) or die $!; $c=$s->accept;`;

  it('a client that stops reading holds the box back: the dashboard buffers stay bounded, and every byte arrives after', async () => {
    // Twice what the dashboard and both kernels may hold, so a box that was not held back shows.
    const heldAtMost = BUFFER_BOUND + kernelBufferMax();
    const total = Math.ceil((2 * heldAtMost) / MiB) * MiB;
    await listenOnBox(9101, `${listener(9101)} $b="x" x 65536; for (1..${total / 65536}) { print $c $b or last } close $c;`);
    const client = new TunnelClient(base, { box: 'tunnel-box', port: '9101' }, auth());
    await client.ready();
    client.ws.pause(); // a slow laptop: nothing read for a while
    let peak = 0;
    const sampleUntil = Date.now() + 2_000;
    while (Date.now() < sampleUntil) {
      const stats = backend.services.tunnels.stats();
      peak = Math.max(peak, stats.socketBufferedBytes + stats.channelBufferedBytes);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const stats = backend.services.tunnels.stats();
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(BUFFER_BOUND);
    expect(stats.bytesDown).toBeLessThan(heldAtMost); // the box was held back, not buffered
    client.ws.resume();
    expect(await client.closed).toEqual({ code: 1000, reason: 'the connection on the box closed' });
    expect(client.received).toBe(total);
  });

  it('a box side that does not read stops the dashboard reading the client: bounded, and every byte arrives after', async () => {
    const total = 32 * MiB;
    await listenOnBox(
      9102,
      `${listener(9102)} sleep 3; $n=0; while ($n < ${total} and ($r = sysread($c, $buf, 65536)) > 0) { $n += $r } open F, ">/tmp/count-9102"; print F $n; close F;`,
    );
    const client = new TunnelClient(base, { box: 'tunnel-box', port: '9102' }, auth());
    await client.ready();
    const frame = Buffer.alloc(64 * 1024, 7);
    for (let sent = 0; sent < total; sent += frame.length) client.ws.send(frame);
    let peak = 0;
    const sampleUntil = Date.now() + 2_000;
    while (Date.now() < sampleUntil) {
      const stats = backend.services.tunnels.stats();
      peak = Math.max(peak, stats.channelBufferedBytes);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(BUFFER_BOUND);
    expect(backend.services.tunnels.stats().bytesUp).toBeLessThan(total / 2);
    await until(async () => (await lab.root('cat /tmp/count-9102 2>/dev/null')).stdout.trim() === String(total), 'the box to read every byte', 30_000);
    client.ws.close();
    await client.closed;
  });

  it('a port nothing listens on is refused with the box-unavailable code and a plain sentence; bad input is 4400', async () => {
    const closed = new TunnelClient(base, { box: 'tunnel-box', port: '9199' }, auth());
    const { code, reason } = await closed.closed;
    expect(code).toBe(4502);
    expect(reason).toMatch(/^nothing accepts connections on port 9199 of the box at 127\.0\.0\.1:\d+ \(127\.0\.0\.1\)$/);
    expect(closed.messages).toEqual([]);
    const bad = new TunnelClient(base, { box: 'tunnel-box', port: '70000' }, auth());
    expect(await bad.closed).toEqual({ code: 4400, reason: 'port: A port is 1-65535.' });
  });

  it('the session cookie opens a tunnel only from the dashboard origin', async () => {
    const foreign = new TunnelClient(base, { box: boxId }, { cookie: ana.cookie, origin: 'https://evil.example' });
    expect(await foreign.refusedStatus).toBe(403);
    const own = new TunnelClient(base, { box: boxId }, { cookie: ana.cookie, origin: backend.origin });
    await own.ready();
    await until(() => own.firstBytes.toString().startsWith('SSH-2.0-'), 'the box sshd banner', 10_000);
    own.ws.close();
    await own.closed;
  });

  it('wakes the box through its wake port first, with progress frames, then streams; stopping closes with 1012', async () => {
    const woken: { boxId: string; actor: SessionUser }[] = [];
    const { url: variant, tunnels } = await listenWithWake(backend, async (id, actor, onWaking) => {
      woken.push({ boxId: id, actor });
      onWaking('suspended');
      await new Promise((resolve) => setTimeout(resolve, 100));
    });
    const client = new TunnelClient(variant, { box: 'tunnel-box' }, auth());
    await client.ready();
    expect(client.messages).toEqual([{ type: 'waking', state: 'suspended' }, { type: 'ready' }]);
    expect(woken).toEqual([{ boxId, actor: ana.user }]);
    await until(() => client.firstBytes.toString().startsWith('SSH-2.0-'), 'the box sshd banner', 10_000);

    // The CLI prints the progress, and one sentence when the dashboard goes away under it.
    const stderr = new PassThrough();
    let said = '';
    stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const stdout = new PassThrough().resume();
    const proxied = runProxy({ url: variant.replace(/^ws:/, 'http:'), token, box: 'tunnel-box', stdin: new PassThrough(), stdout, stderr });
    await until(() => said.includes('ready in'), 'the proxy to be ready', 10_000);

    await tunnels.stop();
    expect(await client.closed).toEqual({ code: 1012, reason: 'the dashboard is restarting; connect again in a moment' });
    expect(await proxied).toBe(1);
    expect(said).toMatch(/^waking tunnel-box \(suspended\)\.\.\. ready in 0\.\d s\nboxyard: the dashboard is restarting; connect again in a moment\n$/);
    const closes = await backend.services.db.auditEvent.findMany({ where: { boxId, action: 'tunnel.close' }, orderBy: { at: 'desc' }, take: 2 });
    expect(closes.map((event) => JSON.parse(event.detail).code)).toEqual([1012, 1012]);
  });

  it('a box that does not wake: the CLI prints the reason in one sentence and exits 1, and the refusal is audited', async () => {
    const { url: variant, tunnels } = await listenWithWake(backend, async (_id, _actor, onWaking) => {
      onWaking('suspended');
      // What ensureVmBoxRunning throws when the lifecycle job outlives its timeout.
      throw new AppError('SSH_TIMEOUT', 'tunnel-box did not wake up in time (job j-1 is still running).');
    });
    const stderr = new PassThrough();
    let said = '';
    stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
    const code = await runProxy({ url: variant.replace(/^ws:/, 'http:'), token, box: 'tunnel-box', stdin: new PassThrough(), stdout: new PassThrough().resume(), stderr });
    expect(code).toBe(1);
    expect(said).toBe('waking tunnel-box (suspended)...\nboxyard: tunnel-box did not wake up in time (job j-1 is still running).\n');
    const refused = await backend.services.db.auditEvent.findFirstOrThrow({ where: { boxId, action: 'tunnel.open', result: 'error' }, orderBy: { at: 'desc' } });
    expect(refused.error).toBe('tunnel-box did not wake up in time (job j-1 is still running).');
    await tunnels.stop();
  });
});

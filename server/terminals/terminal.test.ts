import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { closeCodes, limits } from '../../lib/terminal-protocol';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { TerminalManager } from './manager';
import { startBackend, TestTerminal, type Backend, type OpenOptions, type TestUser } from '../../testing/helpers/terminals';
import { until } from '../../testing/helpers/wait';

/**
 * The terminal WebSocket end to end: a real `ws` client with a real session cookie, the upgrade handler on an HTTP
 * server, the TerminalManager, the SSH pool and a lab box's real sshd.
 */
describe('terminals on a lab box', () => {
  let backend: Backend;
  let box: LabBox;
  let url: string;
  let alice: TestUser;
  let bob: TestUser;
  /** Owned by alice, shared with bob. */
  let shared: { id: string; name: string };
  /** Owned by the admin; bob may not reach it. */
  let adminsBox: { id: string; name: string };
  /** Alice's alone (the same lab box under another name). */
  let alicesBox: { id: string; name: string };
  const opened: TestTerminal[] = [];

  const open = (as: TestUser, boxId: string, options: OpenOptions = {}) => {
    const terminal = new TestTerminal(url, boxId, { cookie: as.cookie, origin: backend.origin, ...options });
    opened.push(terminal);
    return terminal;
  };
  const bashCount = async () => Number((await box.root('pgrep -u dev -x -c bash')).stdout.trim() || 0);

  beforeAll(async () => {
    box = await startLabBox({ namePrefix: 'terminals' });
    backend = await startBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    url = await backend.listen();
    alice = await backend.addUser('alice@example.com');
    bob = await backend.addUser('bob@example.com');
    shared = await backend.addBox('shared', box, alice, [bob]);
    adminsBox = await backend.addBox('admins', box, backend.admin);
    alicesBox = await backend.addBox('alices', box, alice);
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    for (const terminal of opened) terminal.ws.terminate();
    await backend?.stop();
    await box?.remove();
  });

  it('runs a command typed before the shell is ready, and measures the first output', async () => {
    const terminal = open(alice, shared.id);
    await terminal.openedAt;
    // Sent the moment the socket opens: the shell is still starting, the input must be queued, not lost.
    terminal.type('echo hello-$((6*7))\r');
    await terminal.untilOutput('hello-42');
    const states = terminal.messages.filter((m) => m.type === 'state').map((m) => m.state);
    expect(states).toEqual(['starting', 'ready']);
    expect(terminal.messages.find((m) => m.type === 'replay')).toEqual({ type: 'replay', bytes: 0 });
    console.log(`new SSH connection: WebSocket open to first output ${Math.round(terminal.firstOutputAt! - (await terminal.openedAt))} ms`);

    const audit = await backend.services.db.auditEvent.findFirst({ where: { action: 'terminal.open', boxId: shared.id } });
    expect(audit).toMatchObject({ actorEmail: alice.user.email, result: 'ok' });
    // Where the browser connected from: the test's loopback connection.
    expect(JSON.parse(audit!.detail)).toMatchObject({ session: terminal.session, user: alice.user.email, container: null, address: '127.0.0.1' });
    terminal.send({ type: 'close' });
    expect(await terminal.closed).toEqual({ code: closeCodes.ended, reason: 'the terminal was closed' });
  });

  it('gives the shell a UTF-8, 256-colour terminal of the requested size, and follows resizes', async () => {
    const terminal = open(alice, shared.id, { cols: 100, rows: 30 });
    await terminal.until(() => terminal.firstOutputAt !== null, 'the first output');
    console.log(`pooled SSH connection: WebSocket open to first output ${Math.round(terminal.firstOutputAt! - (await terminal.openedAt))} ms`);
    terminal.type('echo "[$TERM|$LANG|$(stty size)]"\r');
    await terminal.untilOutput('[xterm-256color|C.UTF-8|30 100]');
    terminal.send({ type: 'resize', cols: 132, rows: 50 });
    terminal.type('echo "[$(stty size)]"\r');
    await terminal.untilOutput('[50 132]');
    terminal.send({ type: 'close' });
    await terminal.closed;
  });

  it('refuses bad messages with a reason and keeps the session', async () => {
    const terminal = open(alice, shared.id);
    await terminal.untilMessage('state', (m) => m.state === 'ready');
    terminal.send({ type: 'resize', cols: 0, rows: 24 });
    terminal.send({ type: 'resize', cols: 100000, rows: 24 });
    terminal.send('{"type":"input",');
    terminal.send(JSON.stringify({ type: 'input', data: 'x'.repeat(limits.maxInputBytes + 1) }));
    terminal.ws.send(Buffer.from('binary'), { binary: true });
    await terminal.until(() => terminal.messages.filter((m) => m.type === 'error').length === 5, 'five errors');
    expect(terminal.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual([
      'Refused resize message: cols: A terminal is at least 2 columns wide.',
      'Refused resize message: cols: A terminal is at most 1000 columns wide.',
      'The message is not valid JSON.',
      'Refused input message: data: Input message too long; send it in smaller pieces.',
      'Binary messages are not accepted; send JSON text messages.',
    ]);
    terminal.type('echo "still-$((1+1)) [$(stty size)]"\r');
    await terminal.untilOutput('still-2 [24 80]');

    // Above maxPayload the socket is dropped (1009), but the session stays and can be re-attached.
    terminal.send(JSON.stringify({ type: 'input', data: 'y'.repeat(limits.maxMessageBytes) }));
    expect((await terminal.closed).code).toBe(1009);
    const again = open(alice, shared.id, { session: terminal.session, mode: 'attach' });
    again.type('echo back-$((2*2))\r');
    await again.untilOutput('back-4');
    again.send({ type: 'close' });
    await again.closed;
  });

  it('keeps the shell while detached and replays what it printed on re-attach', async () => {
    const first = open(alice, shared.id);
    first.type('echo before-$((1+2)); sleep 1; echo later-$((2+3))\r');
    await first.untilOutput('before-3');
    await first.drop();
    // Detached, the shell goes on: wait until the box's "later-5" line (and any rest of "before-3"'s) reached the session.
    const printedBeforeDrop = first.receivedBytes;
    await until(() => backend.services.terminals.sessionStats(first.session)!.totalOutputBytes >= printedBeforeDrop + 'later-5\r\n'.length + 2, 'later-5 printed while detached', 15_000);
    expect(backend.services.terminals.list(alice.user)).toMatchObject([{ id: first.session, attached: false, state: 'ready' }]);

    const second = open(alice, shared.id, { session: first.session, mode: 'attach' });
    const replay = await second.untilMessage('replay');
    await second.until(() => second.receivedBytes >= replay.bytes, 'the replayed bytes');
    const replayed = second.text.slice(0, replay.bytes);
    expect(replayed).toContain('before-3');
    expect(replayed).toContain('later-5');
    second.type('echo after-$((3+4))\r');
    await second.untilOutput('after-7');

    // A second tab attaching to the same session replaces the first one.
    const third = open(alice, shared.id, { session: first.session, mode: 'attach' });
    expect(await second.closed).toEqual({ code: closeCodes.replaced, reason: 'This terminal was opened in another tab or window.' });
    third.type('exit 3\r');
    const done = await third.untilMessage('state', (m) => m.state === 'done');
    expect(done.reason).toBe('the shell exited (code 3)');
    expect(await third.closed).toEqual({ code: closeCodes.ended, reason: 'the shell exited (code 3)' });

    const close = await backend.services.db.auditEvent.findFirst({ where: { action: 'terminal.close', detail: { contains: first.session } } });
    expect(close?.result).toBe('ok');
    expect(JSON.parse(close!.detail)).toMatchObject({ reason: 'the shell exited (code 3)', durationMs: expect.any(Number) });
  });

  it('says a session that is gone has ended instead of starting a new shell', async () => {
    const before = await bashCount();
    const terminal = open(alice, shared.id, { mode: 'attach' });
    expect(await terminal.closed).toEqual({ code: closeCodes.ended, reason: 'This terminal session has ended.' });
    expect(await bashCount()).toBe(before);
  });

  it('refuses a foreign Origin with HTTP 403 before upgrading', async () => {
    const terminal = open(alice, shared.id, { origin: 'https://evil.example' });
    expect(await terminal.refusedStatus).toBe(403);
    const noOrigin = new TestTerminal(url, shared.id, { cookie: alice.cookie });
    opened.push(noOrigin);
    expect(await noOrigin.refusedStatus).toBe(403);
  });

  it('refuses, after the upgrade, with the protocol close codes and no PTY opened', async () => {
    const before = await bashCount();
    const noCookie = open(alice, shared.id, { cookie: '' });
    expect(await noCookie.closed).toEqual({ code: closeCodes.unauthenticated, reason: 'Sign in first (your session may have expired).' });

    const notTheirs = open(bob, adminsBox.id);
    expect(await notTheirs.closed).toEqual({ code: closeCodes.notFound, reason: 'No such box, or you do not have access to it.' });

    const badSize = open(alice, shared.id, { cols: 100000 });
    expect(await badSize.closed).toEqual({ code: closeCodes.badRequest, reason: 'cols: A terminal is at most 1000 columns wide.' });

    const alices = open(alice, shared.id);
    await alices.untilMessage('state', (m) => m.state === 'ready');
    const bobs = open(bob, shared.id, { session: alices.session, mode: 'attach' });
    expect(await bobs.closed).toEqual({ code: closeCodes.forbidden, reason: 'This terminal session belongs to someone else.' });
    const wrongBox = open(alice, alicesBox.id, { session: alices.session });
    expect(await wrongBox.closed).toEqual({ code: closeCodes.badRequest, reason: 'This terminal session belongs to another box or container.' });

    const noDocker = open(alice, shared.id, { container: 'web' });
    expect(await noDocker.closed).toEqual({ code: closeCodes.notFound, reason: 'Docker is not installed on this box.' });
    // Only alice's one real shell was opened.
    expect(await bashCount()).toBe(before + 1);
    alices.send({ type: 'close' });
    await alices.closed;
  });

  it('reports an unreachable box with the plain SSH message', async () => {
    await box.stopSshd();
    try {
      await backend.services.pool.evict(shared.id);
      const terminal = open(alice, shared.id);
      const closed = await terminal.closed;
      expect(closed.code).toBe(closeCodes.boxUnavailable);
      expect(closed.reason).toContain(`127.0.0.1:${box.port}`);
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(120);
      const audit = await backend.services.db.auditEvent.findFirst({ where: { action: 'terminal.open', detail: { contains: terminal.session } } });
      expect(audit).toMatchObject({ result: 'error', error: expect.stringContaining(`127.0.0.1:${box.port}`) });
    } finally {
      await box.startSshd();
      await backend.services.pool.evict(shared.id);
    }
  });

  it('pauses the SSH channel for a client that does not ack, and finishes once it does', async () => {
    const terminal = open(alice, shared.id, { ack: false });
    await terminal.untilMessage('state', (m) => m.state === 'ready');
    const floodBytes = 50_000_000;
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    terminal.type(`stty -echo; head -c ${floodBytes} /dev/zero | tr '\\0' x; echo; echo flood-$((40+2))\r`);

    const stats = () => backend.services.terminals.sessionStats(terminal.session)!;
    await terminal.until(() => stats().paused, 'the channel to pause');
    let peakRss = 0;
    let peakUnacked = 0;
    let peakBuffered = 0;
    for (let sample = 0; sample < 20; sample++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const now = stats();
      expect(now.paused).toBe(true);
      peakUnacked = Math.max(peakUnacked, now.unackedBytes);
      peakBuffered = Math.max(peakBuffered, now.channelBufferedBytes + now.socketBufferedBytes);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }
    const received = terminal.receivedBytes;
    console.log(
      `flood without acks: received ${received} bytes, unacked ${peakUnacked}, buffered in ssh2/ws ${peakBuffered}, ` +
        `RSS growth ${Math.round((peakRss - rssBefore) / 1e6)} MB`,
    );
    // One SSH packet (32 KiB) may land on top of the high watermark before the pause takes effect.
    expect(peakUnacked).toBeLessThanOrEqual(limits.highWatermarkBytes + 64 * 1024);
    expect(received).toBeLessThan(limits.highWatermarkBytes + 64 * 1024);
    // ssh2's channel window (2 MiB) plus its stream buffer bound what waits while paused.
    expect(peakBuffered).toBeLessThan(4 * 1024 * 1024);
    expect(peakRss - rssBefore).toBeLessThan(50 * 1024 * 1024);

    const started = performance.now();
    terminal.startAcking();
    await terminal.until(() => terminal.receivedBytes >= floodBytes, 'the whole flood', 60_000);
    await terminal.untilOutput('flood-42');
    console.log(`flood with acks: ${floodBytes} bytes in ${Math.round(performance.now() - started)} ms`);
    expect(stats().paused).toBe(false);
    terminal.send({ type: 'close' });
    await terminal.closed;
  }, 120_000);

  it('closes a detached session after the idle timeout, and stop() tells attached browsers the dashboard restarts', async () => {
    const { db, remote } = backend.services;
    const manager = new TerminalManager({ db, remote, access: backend.services.access, idleTimeoutMs: 1_000, bufferBytes: 64 * 1024 });
    manager.start();
    const shortUrl = await backend.listen({ ...backend.services, terminals: manager });

    const idle = new TestTerminal(shortUrl, shared.id, { cookie: alice.cookie, origin: backend.origin });
    await idle.untilMessage('state', (m) => m.state === 'ready');
    await idle.drop();
    expect(manager.list(alice.user)).toHaveLength(1);
    await expect.poll(() => manager.list(alice.user), { timeout: 5_000 }).toHaveLength(0);
    const closeAudit = await db.auditEvent.findFirst({ where: { action: 'terminal.close', detail: { contains: idle.session } } });
    expect(JSON.parse(closeAudit!.detail).reason).toBe('closed after 1 s with no browser attached');
    const reattach = new TestTerminal(shortUrl, shared.id, { cookie: alice.cookie, origin: backend.origin, session: idle.session, mode: 'attach' });
    expect((await reattach.closed).code).toBe(closeCodes.ended);

    const attached = new TestTerminal(shortUrl, shared.id, { cookie: alice.cookie, origin: backend.origin });
    await attached.untilMessage('state', (m) => m.state === 'ready');
    await manager.stop();
    expect(await attached.closed).toEqual({ code: closeCodes.serviceRestart, reason: 'the dashboard is restarting' });
    expect(attached.messages.at(-1)).toEqual({ type: 'state', state: 'done', reason: 'the dashboard is restarting' });
    const late = new TestTerminal(shortUrl, shared.id, { cookie: alice.cookie, origin: backend.origin });
    expect((await late.closed).code).toBe(closeCodes.serviceRestart);
  });

  it('lists sessions per role and lets an admin close anyone’s, audited', async () => {
    const { terminals, db } = backend.services;
    const alices = open(alice, shared.id);
    const bobs = open(bob, shared.id);
    await Promise.all([alices, bobs].map((t) => t.untilMessage('state', (m) => m.state === 'ready')));

    expect(terminals.list(alice.user).map((s) => s.id)).toEqual([alices.session]);
    expect(terminals.list(backend.admin.user)).toEqual(
      expect.arrayContaining([
        { id: alices.session, user: { id: alice.user.id, email: alice.user.email }, box: shared, container: null, state: 'ready', since: expect.any(Date), attached: true },
        expect.objectContaining({ id: bobs.session }),
      ]),
    );
    await expect(terminals.close(bobs.session, alice.user)).rejects.toThrow('No such terminal session');
    await expect(terminals.close(randomUUID(), alice.user)).rejects.toThrow('No such terminal session');

    await terminals.close(bobs.session, backend.admin.user);
    expect(await bobs.closed).toEqual({ code: closeCodes.ended, reason: `closed by an admin (${backend.admin.user.email})` });
    const audit = await db.auditEvent.findFirst({ where: { action: 'terminal.close', detail: { contains: bobs.session } } });
    expect(audit).toMatchObject({ actorEmail: backend.admin.user.email, result: 'ok' });
    expect(JSON.parse(audit!.detail)).toMatchObject({ user: bob.user.email });

    await terminals.close(alices.session, alice.user);
    expect((await alices.closed).reason).toBe('the terminal was closed from the terminals list');
  });

  it('leaves no shell behind on the box once every session is closed', async () => {
    expect(backend.services.terminals.list(backend.admin.user)).toEqual([]);
    await expect.poll(bashCount, { timeout: 5_000 }).toBe(0);
    expect((await box.root('ls /dev/pts | grep -c "^[0-9]"')).stdout.trim()).toBe('0');
  });
});

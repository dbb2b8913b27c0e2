import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../server/access-keys/api-tokens';
import { writeMetricsSettings } from '../server/metrics/settings';
import { CLI_SOURCE as CLI, freePort, runProcess, startProcess, TSX, type Running } from '../testing/helpers/process';
import { LAB_START_TIMEOUT_MS } from '../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';
import { listenWithWake } from '../testing/helpers/tunnels';
import { until } from '../testing/helpers/wait';
import { startLabBox, type LabBox } from '../testing/lab/lab';

/**
 * `boxyard forward` as a process, against a real backend and a lab box whose servers listen on its loopback only,
 * with real clients on the laptop side (curl, and TCP sockets): so every byte went laptop -> dashboard -> box.
 */

interface Connection {
  socket: Socket;
  received(): Buffer;
  /** Resolves when the laptop's side of the connection closed. */
  closed: Promise<void>;
}

async function connectTo(port: number): Promise<Connection> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

describe('boxyard forward: laptop ports to a box through the dashboard', () => {
  let backend: Backend;
  let lab: LabBox;
  let alice: TestUser;
  let url: string;
  let token: string;
  let boxId: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-forward-home-'));
  const env = { PATH: process.env.PATH, HOME: home, NODE_ENV: 'test' } as NodeJS.ProcessEnv;
  const forward = (args: string[], dashboard = url) => ['forward', '--url', dashboard, '--token', token, ...args];

  /** Starts a perl server on the box (as dev) on 127.0.0.1:port, one process per connection running `perConnection` on $c. */
  const serveOnBox = async (port: number, perConnection: string) => {
    const script = `use IO::Socket::INET; $SIG{CHLD}="IGNORE"; $s=IO::Socket::INET->new(LocalAddr=>"127.0.0.1:${port}",Listen=>16,ReuseAddr=>1) or die $!; while ($c=$s->accept) { if (!fork) { ${perConnection}; exit } close $c }`;
    const file = `/tmp/serve-${port}.pl`;
    const ran = await lab.root(`echo ${Buffer.from(script).toString('base64')} | base64 -d >${file} && su dev -c 'setsid perl ${file} >${file}.log 2>&1 </dev/null &'`);
    expect(ran).toMatchObject({ code: 0 });
    await until(async () => (await lab.root(`ss -ltn 'sport = :${port}' | grep -c LISTEN`)).stdout.trim() === '1', `a server on port ${port} of the box`, 10_000);
  };

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend(), startLabBox({ namePrefix: 'forward' })]);
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    await lab.authorize(backend.services.dashboardPublicKey);
    alice = await backend.addUser('alice@example.com');
    boxId = (await backend.addBox('fwd-box', lab, alice)).id;
    await backend.addBox('admins-box', lab, backend.admin);
    ({ token } = await createApiToken(backend.services.db, alice.user, 'forward test'));
    await Promise.all([
      // HTTP: answers each request with its path, then closes.
      serveOnBox(9201, 'while (<$c>) { $p //= (split " ")[1]; last if /^\\r?$/ } $b = "hello from the box: $p\\n"; print $c "HTTP/1.1 200 OK\\r\\nContent-Length: " . length($b) . "\\r\\nConnection: close\\r\\n\\r\\n$b"; close $c'),
      // Echo, byte for byte, until the laptop closes.
      serveOnBox(9202, 'while (($n = sysread($c, $b, 65536)) > 0) { $o = 0; while ($o < $n) { $o += syswrite($c, $b, $n - $o, $o) } }'),
      // Says bye and closes at once: the box's side ends the connection.
      serveOnBox(9203, 'print $c "bye\\n"; close $c'),
    ]);
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
    rmSync(home, { recursive: true, force: true });
  });

  describe('one forward process with four ports', () => {
    let running: Running;
    let stderr = '';
    const ports: number[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 4; i++) ports.push(await freePort());
      const [http, echo, bye, nothing] = ports;
      running = startProcess(TSX, [CLI, ...forward(['fwd-box', `${http}:9201`, `${echo}:9202`, `${bye}:9203`, `${nothing}:9299`])], { env });
      void running.exited.then((ran) => (stderr = ran.stderr));
      await until(() => running.stdout().split('\n').length > 4, 'the forward to listen', { timeoutMs: 30_000, describe: () => running.stdout() });
    });

    afterAll(() => running?.kill());

    it('prints one line per forward and binds 127.0.0.1 only', () => {
      const [http, echo, bye, nothing] = ports;
      expect(running.stdout()).toBe(
        [`${http}:9201`, `${echo}:9202`, `${bye}:9203`, `${nothing}:9299`]
          .map((spec) => `forwarding 127.0.0.1:${spec.split(':')[0]} -> fwd-box:${spec.split(':')[1]}\n`)
          .join(''),
      );
    });

    it('the real curl reaches an HTTP server bound to the box loopback only, again and again', async () => {
      for (const page of ['/first', '/second']) {
        const ran = await runProcess('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${ports[0]}${page}`], { env });
        expect(ran).toEqual({ code: 0, stdout: `hello from the box: ${page}\n`, stderr: '' });
      }
    });

    it('carries several concurrent connections, each its own payload, byte for byte', async () => {
      const payloads = Array.from({ length: 6 }, () => randomBytes(512 * 1024 + Math.floor(Math.random() * 4096)));
      const connections = await Promise.all(payloads.map(() => connectTo(ports[1]!)));
      connections.forEach((connection, i) => connection.socket.write(payloads[i]));
      await until(() => connections.every((connection, i) => connection.received().length >= payloads[i]!.length), 'every echo to come back', 60_000);
      connections.forEach((connection, i) => expect(connection.received().equals(payloads[i]!)).toBe(true));
      for (const connection of connections) connection.socket.end();
      await Promise.all(connections.map((connection) => connection.closed));
    });

    it("the box's side closing ends the laptop's connection", async () => {
      const connection = await connectTo(ports[2]!);
      await connection.closed;
      expect(connection.received().toString()).toBe('bye\n');
    });

    it('a connection that fails is closed with one sentence on stderr, and the forward stays up', async () => {
      const connection = await connectTo(ports[3]!);
      await connection.closed;
      expect(connection.received().length).toBe(0);
      const again = await runProcess('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${ports[0]}/after`], { env });
      expect(again.stdout).toBe('hello from the box: /after\n');
    });

    it('SIGTERM closes the listeners and the open connections, and exits 0', async () => {
      const open = await connectTo(ports[1]!);
      open.socket.write('still here');
      await until(() => open.received().toString() === 'still here', 'the echo');
      running.kill();
      const ran = await running.exited;
      await open.closed;
      expect(ran.code).toBe(0);
      // The one failure of the test before, in one sentence; nothing for the connections that ended well.
      expect(stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(new RegExp(`^boxyard: 127\\.0\\.0\\.1:${ports[3]} -> fwd-box:9299: [^\\n]*9299[^\\n]*$`))]);
      await expect(connectTo(ports[1]!)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });
  });

  it('a local port that is taken: one sentence and exit 1, nothing forwarded', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const takenPort = (taken.address() as AddressInfo).port;
    const free = await freePort();
    try {
      const ran = await runProcess(TSX, [CLI, ...forward(['fwd-box', `${free}:9201`, `${takenPort}:9202`])], { env });
      expect(ran).toEqual({
        code: 1,
        stdout: '',
        stderr: `boxyard: port ${takenPort} on this laptop is taken (something else listens on 127.0.0.1:${takenPort}); pick another local port, e.g. ${takenPort + 1}:9202\n`,
      });
    } finally {
      taken.close();
    }
  });

  it('bad forwards are usage errors (exit 2) that name them', async () => {
    for (const spec of ['0', '70000', 'a:b', '80:0', '1:2:3']) {
      const ran = await runProcess(TSX, [CLI, ...forward(['fwd-box', spec])], { env });
      expect(ran.code).toBe(2);
      expect(ran.stdout).toBe('');
      expect(ran.stderr.split('\n')[0]).toBe(`boxyard: "${spec}" is not a forward: give PORT or LOCAL:REMOTE, each a port 1-65535`);
    }
  });

  it('a box the user may not reach reads as an unknown one: one sentence, exit 1', async () => {
    const notHers = await runProcess(TSX, [CLI, ...forward(['admins-box', String(await freePort())])], { env });
    const unknown = await runProcess(TSX, [CLI, ...forward(['no-such-box', String(await freePort())])], { env });
    expect(notHers).toEqual({ code: 1, stdout: '', stderr: `boxyard: no box named admins-box among the ones you may reach on ${url} (\`boxyard ls\` lists them)\n` });
    expect(unknown.stderr).toBe(notHers.stderr.replace('admins-box', 'no-such-box'));
  });

  it('--json prints the forwards as one line; a sleeping box is woken by the first connections with one waking line', async () => {
    // Each tunnel wakes the box (as the real wake port would, coalesced): long enough for both connections to wait.
    const { url: sleepyWs, tunnels } = await listenWithWake(backend, async (_id, _actor, onWaking) => {
      onWaking('suspended');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    });
    const sleepy = sleepyWs.replace(/^ws:/, 'http:');
    const port = await freePort();
    const running = startProcess(TSX, [CLI, ...forward(['--json', 'fwd-box', `${port}:9201`], sleepy)], { env });
    try {
      await until(() => running.stdout().endsWith('\n'), 'the forward to listen', { timeoutMs: 30_000, describe: () => running.stdout() });
      expect(JSON.parse(running.stdout())).toEqual({ box: 'fwd-box', forwards: [{ address: '127.0.0.1', localPort: port, remotePort: 9201 }] });
      expect(running.stdout().trim().split('\n')).toHaveLength(1);
      const answers = await Promise.all(['/a', '/b'].map((page) => runProcess('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${port}${page}`], { env })));
      expect(answers.map((answer) => answer.stdout)).toEqual(['hello from the box: /a\n', 'hello from the box: /b\n']);
    } finally {
      running.kill();
    }
    const ran = await running.exited;
    expect(ran.code).toBe(0);
    expect(ran.stderr).toMatch(/^waking fwd-box \(suspended\)\.\.\. ready in 1\.\d s\n$/);
    await tunnels.stop();
  });
  describe('--auto: follows the ports the box listens on', () => {
    let running: Running;
    let taken: Server;
    const lines = () => running.stdout().split('\n').filter(Boolean);
    /** The laptop port of the line that forwards box port `remotePort`, once it is printed. */
    const forwardedTo = (remotePort: number) =>
      until(() => lines().map((line) => new RegExp(`^forwarding 127\\.0\\.0\\.1:(\\d+) -> fwd-box:${remotePort}( \\(.*\\))?$`).exec(line)).find(Boolean), `a forward of box port ${remotePort}`, {
        timeoutMs: 20_000,
        describe: () => running.stdout(),
      });

    beforeAll(async () => {
      // The dashboard samples the box every half second (as when its page is open), so a change arrives within a second.
      await writeMetricsSettings(backend.services.db, { fastIntervalS: 0.5 });
      await backend.services.metrics.reloadSettings();
      await backend.services.metrics.start({ only: [boxId] });
      backend.services.metrics.sampler.watch(boxId, 600_000);
      // 9211 on this laptop is someone else's: the box's 9211 must come to another laptop port.
      taken = createServer();
      await new Promise<void>((resolve) => taken.listen(9211, '127.0.0.1', resolve));
      running = startProcess(TSX, [CLI, ...forward(['--auto', 'fwd-box'])], { env });
    });

    afterAll(async () => {
      running?.kill();
      taken?.close();
      await backend.services.metrics.stop();
    });

    it('forwards what already listens (not SSH), and the real curl reaches it', async () => {
      const [, local] = await forwardedTo(9201);
      await forwardedTo(9202);
      await forwardedTo(9203);
      expect(lines().some((line) => / -> fwd-box:22\b/.test(line))).toBe(false);
      const ran = await runProcess('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${local}/auto`], { env });
      expect(ran).toEqual({ code: 0, stdout: 'hello from the box: /auto\n', stderr: '' });
    });

    it('follows a port started later, on the next laptop port when its own is taken, and reports it when it stops', async () => {
      const http = 'while (<$c>) { $p //= (split " ")[1]; last if /^\\r?$/ } $b = "later: $p\\n"; print $c "HTTP/1.1 200 OK\\r\\nContent-Length: " . length($b) . "\\r\\nConnection: close\\r\\n\\r\\n$b"; close $c';
      await serveOnBox(9211, http);
      const [line, local] = await forwardedTo(9211);
      expect(Number(local)).toBeGreaterThan(9211);
      expect(line).toBe(`forwarding 127.0.0.1:${local} -> fwd-box:9211 (9211 was taken)`);
      const ran = await runProcess('curl', ['-sS', '--max-time', '30', `http://127.0.0.1:${local}/second`], { env });
      expect(ran).toEqual({ code: 0, stdout: 'later: /second\n', stderr: '' });

      await lab.root("pkill -f /tmp/serve-9211.pl");
      await until(() => lines().includes('stopped: 9211 no longer listens'), 'the stop line', { timeoutMs: 20_000, describe: () => running.stdout() });
      await expect(connectTo(Number(local))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    });

    it('SIGTERM ends it with exit 0 and nothing on stderr', async () => {
      running.kill();
      const ran = await running.exited;
      expect(ran).toMatchObject({ code: 0, stderr: '' });
    });
  });
});

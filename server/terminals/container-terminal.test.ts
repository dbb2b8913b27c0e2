import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { installDockerInBox, runTinyContainer } from '../../testing/lab/docker-box';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { closeCodes } from '../../lib/terminal-protocol';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, TestTerminal, type Backend, type TestUser } from '../../testing/helpers/terminals';

/** Container terminals against a lab box running a real dockerd, with a busybox-only container in it. */
describe('container terminals on a lab box with Docker', () => {
  let backend: Backend;
  let box: LabBox;
  let url: string;
  let alice: TestUser;
  let boxId: string;
  const opened: TestTerminal[] = [];

  const open = (container: string) => {
    const terminal = new TestTerminal(url, boxId, { cookie: alice.cookie, origin: backend.origin, container });
    opened.push(terminal);
    return terminal;
  };
  /** Processes in the container besides its `sleep` (PID 1). */
  const extraProcesses = async (container: string) =>
    (await box.root(`docker top ${container} -o pid,args`)).stdout
      .split('\n')
      .slice(1)
      .filter((line) => line.trim() && !line.includes('sleep 100000')).length;

  beforeAll(async () => {
    box = await startLabBox({ dockerCapable: true, namePrefix: 'terminals-docker' });
    await installDockerInBox(box);
    await runTinyContainer(box, 'web');
    await runTinyContainer(box, 'stopped');
    await box.root('docker kill stopped');
    backend = await startBackend();
    await box.authorize(backend.services.dashboardPublicKey);
    url = await backend.listen();
    alice = await backend.addUser('alice@example.com');
    boxId = (await backend.addBox('docker-box', box, alice)).id;
  }, LAB_START_TIMEOUT_MS);

  // Each test starts with no terminal and no docker CLI left by the one before (even a failed one).
  afterEach(async () => {
    for (const terminal of opened.splice(0)) {
      if (terminal.ws.readyState === WebSocket.OPEN) terminal.send({ type: 'close' });
      await Promise.race([terminal.closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    }
    await expect.poll(async () => Number((await box.root('pgrep -c -x docker')).stdout.trim() || 0), { timeout: 10_000 }).toBe(0);
  });

  afterAll(async () => {
    for (const terminal of opened) terminal.ws.terminate();
    await backend?.stop();
    await box?.remove();
  });

  /** The container's shell reports this `stty size` within 10 s (docker applies a window change a moment later). */
  const untilShellSees = (terminal: ReturnType<typeof open>, size: string) =>
    expect
      .poll(
        async () => {
          terminal.type('stty size\r');
          return terminal.untilOutput(size, 500).then(
            () => true,
            () => false,
          );
        },
        { timeout: 10_000, interval: 0 },
      )
      .toBe(true);

  it('opens a shell inside a running container', async () => {
    const terminal = open('web');
    terminal.type('echo in-$((1+1)) "[$TERM]" "[$(stty size)]"\r');
    await terminal.untilOutput('in-2 [xterm-256color] [24 80]');
    terminal.send({ type: 'resize', cols: 120, rows: 40 });
    await untilShellSees(terminal, '40 120');
    // The marked outer sh (see containerShellCommand) and busybox's sh.
    expect(await extraProcesses('web')).toBe(2);

    terminal.send({ type: 'close' });
    expect(await terminal.closed).toEqual({ code: closeCodes.ended, reason: 'the terminal was closed' });
    const audit = await backend.services.db.auditEvent.findFirst({ where: { action: 'terminal.open', detail: { contains: terminal.session } } });
    expect(JSON.parse(audit!.detail)).toMatchObject({ container: 'web' });
    // The shell in the container ends with the terminal, not just the docker CLI on the box.
    await expect.poll(() => extraProcesses('web'), { timeout: 5_000 }).toBe(0);
  });

  it('a window change the moment the terminal is ready lands (docker does not listen for it yet)', async () => {
    const terminal = open('web');
    await expect.poll(() => terminal.messages.some((m) => m.type === 'state' && m.state === 'ready'), { timeout: 15_000, interval: 5 }).toBe(true);
    // The docker CLI hears SIGWINCH only once its first resize call has returned: this change comes before that, and
    // only the box-side nudge (containerShellCommand) makes docker read the size again. Sent once, never repeated.
    terminal.send({ type: 'resize', cols: 132, rows: 43 });
    await untilShellSees(terminal, '43 132');
  });

  it('reports the shell exiting inside the container', async () => {
    const terminal = open('web');
    terminal.type('exit 7\r');
    expect(await terminal.closed).toEqual({ code: closeCodes.ended, reason: 'the shell exited (code 7)' });
  });

  it('says plainly when the container is stopped or missing, without opening a terminal', async () => {
    const stopped = open('stopped');
    expect(await stopped.closed).toEqual({ code: closeCodes.notFound, reason: 'Container stopped is not running; start it, then open the terminal again.' });
    const missing = open('nope');
    expect(await missing.closed).toEqual({ code: closeCodes.notFound, reason: 'There is no container nope on this box.' });
    expect(stopped.messages.map((m) => m.type === 'state' && m.state)).not.toContain('ready');
    expect(Number((await box.root('pgrep -c -x docker')).stdout.trim() || 0)).toBe(0);
  });
});

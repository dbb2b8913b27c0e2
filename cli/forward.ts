import { createServer, type Server, type Socket } from 'node:net';
import { defineCommand, UsageError } from './commands';
import { CliError } from './connect';
import { dashboardFailure, dashboardOptions, findBox, openDashboard, type BoxListing, type Dashboard } from './dashboard-api';
import { jsonOption, print } from './output';
import { carryTunnel, tunnelUrl, wakingLine, type WakingProgress } from './proxy';

/**
 * `boxyard forward NAME PORT|LOCAL:REMOTE ...`: listens on the laptop's 127.0.0.1 (only) on each LOCAL port and carries
 * each connection through its own tunnel WebSocket to the REMOTE port on the box's own loopback (so also ports the box
 * binds to its loopback only). A connection's end on one side closes the other; a connection that fails says so in
 * one sentence on stderr and the forward stays up. Runs until Ctrl-C or SIGTERM, which close everything and exit 0.
 *
 * With --auto it also follows the box's listening ports as the dashboard learns them from the box's sampler (the
 * metrics.followPorts subscription: pushed within a sample of a change, no polling), as Lima does for its VMs: each new
 * port is forwarded from the same port on the laptop, or the next free one when that is taken; a port that stops
 * listening stops being forwarded. One line per change.
 */

export interface PortForward {
  localPort: number;
  remotePort: number;
}

const PORT = /^\d{1,5}$/;

function parsePort(text: string, spec: string): number {
  const port = PORT.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`${JSON.stringify(spec)} is not a forward: give PORT or LOCAL:REMOTE, each a port 1-65535`);
  return port;
}

/** `3000` (the same port on both sides) or `8080:80` (laptop:box); a local port given twice is a usage error. */
export function parseForwards(specs: string[]): PortForward[] {
  const forwards = specs.map((spec) => {
    if (spec.startsWith('-')) throw new UsageError(`flags go before the box name (${spec})`);
    const [local, remote, ...rest] = spec.split(':');
    if (rest.length) parsePort('', spec);
    return { localPort: parsePort(local!, spec), remotePort: parsePort(remote ?? local!, spec) };
  });
  const seen = new Set<number>();
  for (const { localPort } of forwards) {
    if (seen.has(localPort)) throw new UsageError(`local port ${localPort} is given twice; each forward needs its own`);
    seen.add(localPort);
  }
  return forwards;
}

/** Box ports --auto leaves alone: SSH (the box's own port too), which `boxyard connect` and `boxyard ssh` carry. */
export function autoForwarded(remotePort: number, box: { port: number }): boolean {
  return remotePort !== 22 && remotePort !== box.port;
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true });
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Binds every port, or none: when one cannot be bound, those already bound are closed and it says which and why. */
async function listenOnAll(forwards: PortForward[]): Promise<Server[]> {
  const bound = await Promise.allSettled(forwards.map((forward) => listen(forward.localPort)));
  const failed = bound.findIndex((result) => result.status === 'rejected');
  if (failed === -1) return bound.map((result) => (result as PromiseFulfilledResult<Server>).value);
  await Promise.all(bound.map((result) => result.status === 'fulfilled' && new Promise((resolve) => result.value.close(resolve))));
  const { code } = (bound[failed] as PromiseRejectedResult).reason as NodeJS.ErrnoException;
  const port = forwards[failed]!.localPort;
  throw new CliError(
    code === 'EADDRINUSE'
      ? `port ${port} on this laptop is taken (something else listens on 127.0.0.1:${port}); pick another local port, e.g. ${port + 1}:${forwards[failed]!.remotePort}`
      : `cannot listen on 127.0.0.1:${port} (${code}); pick another local port`,
  );
}

/**
 * A laptop port for box port `remotePort`: the same number, else the next free one above it (up to 100 tries),
 * skipping `inUse` (this forward's own). Null when none could be bound.
 */
async function listenNear(remotePort: number, inUse: ReadonlySet<number>): Promise<{ server: Server; localPort: number; note: string } | null> {
  let note = '';
  for (let port = remotePort; port <= Math.min(65535, remotePort + 99); port++) {
    if (inUse.has(port)) {
      note ||= `${port} is forwarded already`;
      continue;
    }
    try {
      const server = await listen(port);
      return { server, localPort: port, note };
    } catch (error) {
      // The first failure is the one worth saying: why the box's own number is not used.
      if (!note) note = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `${port} was taken` : `${port} could not be bound: ${(error as NodeJS.ErrnoException).code}`;
    }
  }
  return null;
}

/** One waking line for all connections: the first to see the box asleep prints it, the others wait quietly. */
function sharedWakingLine(line: WakingProgress): () => WakingProgress {
  let owner: object | null = null;
  return () => {
    const me = {};
    return {
      waking: (state) => {
        if (owner) return;
        owner = me;
        line.waking(state);
      },
      ready: (seconds) => {
        if (owner !== me) return;
        owner = null;
        line.ready(seconds);
      },
      gaveUp: () => {
        if (owner !== me) return;
        owner = null;
        line.gaveUp();
      },
    };
  };
}

/**
 * The laptop's listeners of one forward process and the connections they carry: each connection through its own
 * tunnel to the box's port.
 */
class Forwarder {
  private readonly listeners = new Map<number, { server: Server; remotePort: number; sockets: Set<Socket> }>();
  private readonly carried = new Set<Promise<unknown>>();
  private readonly progress: () => WakingProgress;

  constructor(private readonly dashboard: { url: string; token: string }, private readonly box: string) {
    this.progress = sharedWakingLine(wakingLine(process.stderr, box));
  }

  localPorts(): Set<number> {
    return new Set(this.listeners.keys());
  }

  add(server: Server, forward: PortForward): void {
    const sockets = new Set<Socket>();
    this.listeners.set(forward.localPort, { server, remotePort: forward.remotePort, sockets });
    const endpoint = tunnelUrl(this.dashboard.url, this.box, forward.remotePort)!;
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      const carrying = carryTunnel({ endpoint, token: this.dashboard.token, box: this.box, input: socket, output: socket, progress: this.progress() }).then((failure) => {
        if (failure) {
          process.stderr.write(`boxyard: 127.0.0.1:${forward.localPort} -> ${this.box}:${forward.remotePort}: ${failure}\n`);
          socket.destroy();
        } else socket.end();
        sockets.delete(socket);
        this.carried.delete(carrying);
      });
      this.carried.add(carrying);
    });
  }

  /** Stops listening on `localPort` and closes its connections (their box port is gone). */
  remove(localPort: number): void {
    const listener = this.listeners.get(localPort);
    if (!listener) return;
    this.listeners.delete(localPort);
    listener.server.close();
    for (const socket of listener.sockets) socket.destroy();
  }

  /** Closing a laptop connection closes its tunnel; resolves once every tunnel has. */
  async close(): Promise<void> {
    for (const localPort of [...this.listeners.keys()]) this.remove(localPort);
    await Promise.all(this.carried);
  }
}

/** What --auto prints for a change: a line for people, or with --json one JSON line. */
interface AutoReporter {
  forwarding(forward: PortForward, note: string): void;
  stopped(forward: PortForward): void;
  failed(remotePort: number): void;
}

function autoReporter(box: string, json: boolean): AutoReporter {
  const line = (value: unknown) => console.log(JSON.stringify(value));
  return {
    forwarding: (forward, note) =>
      json ? line({ box, forwarding: { address: '127.0.0.1', ...forward } }) : print(`forwarding 127.0.0.1:${forward.localPort} -> ${box}:${forward.remotePort}${note ? ` (${note})` : ''}`),
    stopped: (forward) => (json ? line({ box, stopped: forward }) : print(`stopped: ${forward.remotePort} no longer listens`)),
    failed: (remotePort) => process.stderr.write(`boxyard: ${box}:${remotePort} listens, but no port from ${remotePort} to ${Math.min(65535, remotePort + 99)} on this laptop could be bound\n`),
  };
}

/**
 * --auto: follows the box's ports (metrics.followPorts) until `stop`, forwarding each new one and stopping each gone
 * one; `explicit` box ports are forwarded by the command line already. Rejects when the dashboard stops answering.
 */
function followPorts(dashboard: Dashboard, box: BoxListing, forwarder: Forwarder, explicit: ReadonlySet<number>, report: AutoReporter, stop: Promise<void>): Promise<void> {
  const auto = new Map<number, number>(); // box port -> laptop port
  let changes = Promise.resolve();
  const apply = async (remotePorts: number[]) => {
    const wanted = new Set(remotePorts.filter((port) => autoForwarded(port, box) && !explicit.has(port)));
    for (const [remotePort, localPort] of auto) {
      if (wanted.has(remotePort)) continue;
      auto.delete(remotePort);
      forwarder.remove(localPort);
      report.stopped({ localPort, remotePort });
    }
    for (const remotePort of wanted) {
      if (auto.has(remotePort)) continue;
      const bound = await listenNear(remotePort, forwarder.localPorts());
      if (!bound) {
        report.failed(remotePort);
        continue;
      }
      auto.set(remotePort, bound.localPort);
      forwarder.add(bound.server, { localPort: bound.localPort, remotePort });
      report.forwarding({ localPort: bound.localPort, remotePort }, bound.note);
    }
  };
  return new Promise<void>((resolve, reject) => {
    const subscription = dashboard.client.metrics.followPorts.subscribe(
      { boxId: box.id },
      {
        // A list not known (the box's sampler is down) changes nothing: the forwards stay until the box says otherwise.
        onData: (ports) => {
          if (ports.ports) changes = changes.then(() => apply(ports.ports!.map((port) => port.port)));
        },
        onError: (error) => {
          subscription.unsubscribe();
          reject(new CliError(`lost the box's ports (${dashboardFailure(error, dashboard.url).message}); stopped forwarding`));
        },
      },
    );
    void stop.then(() => {
      subscription.unsubscribe();
      return changes.then(resolve);
    });
  });
}

export const forwardCommand = defineCommand({
  name: 'forward',
  usage: 'forward [--url URL] [--token TOKEN] [--json] [--auto] NAME [PORT|LOCAL:REMOTE ...]',
  summary: "forward laptop ports (127.0.0.1) to a box's ports through the dashboard, until Ctrl-C",
  description: `Listens on this laptop's 127.0.0.1 on each LOCAL port and carries every connection to it through the dashboard to
port REMOTE of box NAME, on the box's own loopback (so also ports the box binds to 127.0.0.1 only). PORT alone is
the same port on both sides: \`boxyard forward web-dev 3000 8080:80\`. With --auto, every port the box listens on
is forwarded as it appears (the same port here, or the next free one when that is taken) and stops being forwarded
when it goes, one line per change; SSH (22 and the box's SSH port) is left out, ports given on the command line are
forwarded as given. A sleeping box is woken by the first connection. Runs until Ctrl-C (or SIGTERM), which closes
every listener and connection. A connection that fails says why on stderr; the forward stays up. Exit code: 0 after
Ctrl-C, 1 when a local port is taken, the box is not yours to reach or the dashboard stops answering, 2 for a bad
command line.`,
  options: {
    ...dashboardOptions,
    auto: { type: 'boolean', help: "follow the box's listening ports as they come and go" },
    json: { ...jsonOption, help: 'print the forwards as one JSON line once they listen, and with --auto one JSON line per change (for scripts)' },
  },
  maxArguments: 1,
  // The ports: every argument after NAME.
  passThrough: true,
  async run(values, [name, ...specs]) {
    if (!name || (!specs.length && !values.auto)) throw new UsageError('forward needs a box name and at least one port (PORT or LOCAL:REMOTE), or --auto');
    const forwards = parseForwards(specs);
    const dashboard = await openDashboard(values);
    const box = await findBox(dashboard, name);
    const servers = await listenOnAll(forwards);
    const forwarder = new Forwarder(dashboard, box.name);
    servers.forEach((server, i) => forwarder.add(server, forwards[i]!));

    if (values.json) {
      if (forwards.length || !values.auto) console.log(JSON.stringify({ box: box.name, forwards: forwards.map((forward) => ({ address: '127.0.0.1', ...forward })) }));
    } else for (const forward of forwards) print(`forwarding 127.0.0.1:${forward.localPort} -> ${box.name}:${forward.remotePort}`);

    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    try {
      if (values.auto) await followPorts(dashboard, box, forwarder, new Set(forwards.map((forward) => forward.remotePort)), autoReporter(box.name, Boolean(values.json)), stop);
      else await stop;
    } finally {
      await forwarder.close();
    }
  },
});

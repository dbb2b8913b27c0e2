import { createServer, type Server, type Socket } from 'node:net';
import { defineCommand, UsageError } from './commands';
import { CliError } from './connect';
import { dashboardOptions, findBox, openDashboard } from './dashboard-api';
import { jsonOption, print } from './output';
import { carryTunnel, tunnelUrl, wakingLine, type WakingProgress } from './proxy';

/**
 * `boxyard forward NAME PORT|LOCAL:REMOTE ...`: listens on the laptop's 127.0.0.1 (only) on each LOCAL port and carries
 * each connection through its own tunnel WebSocket to the REMOTE port on the box's own loopback (so also ports the box
 * binds to its loopback only). A connection's end on one side closes the other; a connection that fails says so in
 * one sentence on stderr and the forward stays up. Runs until Ctrl-C or SIGTERM, which close everything and exit 0.
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

export const forwardCommand = defineCommand({
  name: 'forward',
  usage: 'forward [--url URL] [--token TOKEN] [--json] NAME PORT|LOCAL:REMOTE ...',
  summary: "forward laptop ports (127.0.0.1) to a box's ports through the dashboard, until Ctrl-C",
  description: `Listens on this laptop's 127.0.0.1 on each LOCAL port and carries every connection to it through the dashboard to
port REMOTE of box NAME, on the box's own loopback (so also ports the box binds to 127.0.0.1 only). PORT alone is
the same port on both sides: \`boxyard forward web-dev 3000 8080:80\`. A sleeping box is woken by the first
connection. Runs until Ctrl-C (or SIGTERM), which closes every listener and connection. A connection that fails says
why on stderr; the forward stays up. Exit code: 0 after Ctrl-C, 1 when a local port is taken or the box is not
yours to reach, 2 for a bad command line.`,
  options: { ...dashboardOptions, json: { ...jsonOption, help: 'print the forwards as one JSON line once they listen (for scripts)' } },
  maxArguments: 1,
  // The ports: every argument after NAME.
  passThrough: true,
  async run(values, [name, ...specs]) {
    if (!name || !specs.length) throw new UsageError('forward needs a box name and at least one port (PORT or LOCAL:REMOTE)');
    const forwards = parseForwards(specs);
    const dashboard = await openDashboard(values);
    const box = await findBox(dashboard, name);
    const servers = await listenOnAll(forwards);

    const progress = sharedWakingLine(wakingLine(process.stderr, box.name));
    const open = new Set<Socket>();
    const carried = new Set<Promise<unknown>>();
    servers.forEach((server, i) => {
      const endpoint = tunnelUrl(dashboard.url, box.name, forwards[i]!.remotePort)!;
      server.on('connection', (socket: Socket) => {
        open.add(socket);
        const carrying = carryTunnel({ endpoint, token: dashboard.token, box: box.name, input: socket, output: socket, progress: progress() }).then((failure) => {
          if (failure) {
            process.stderr.write(`boxyard: 127.0.0.1:${forwards[i]!.localPort} -> ${box.name}:${forwards[i]!.remotePort}: ${failure}\n`);
            socket.destroy();
          } else socket.end();
          open.delete(socket);
          carried.delete(carrying);
        });
        carried.add(carrying);
      });
    });

    if (values.json) console.log(JSON.stringify({ box: box.name, forwards: forwards.map((forward) => ({ address: '127.0.0.1', ...forward })) }));
    else for (const forward of forwards) print(`forwarding 127.0.0.1:${forward.localPort} -> ${box.name}:${forward.remotePort}`);

    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    // Closing a laptop connection closes its tunnel; the process exits once every tunnel has.
    for (const server of servers) server.close();
    for (const socket of open) socket.destroy();
    await Promise.all(carried);
  },
});

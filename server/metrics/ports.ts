import { EventEmitter, on } from 'node:events';
import type { BoxPorts, ListeningPort, PortOwner } from '../../lib/ports';
import { errorMessage } from '../../lib/errors';
import { systemActor } from '../audit/audit';
import type { BoxRemote } from '../boxes/remote';
import { logger } from '../log';
import { sh } from '../ssh/quote';
import type { ListeningSocket } from './parse';

const log = logger.child({ module: 'metrics' });

/**
 * What listens on the box, asked once per change of its listening set (never per sample): Docker's published ports
 * (where the SSH user may use Docker), then the sockets' processes as `ss` shows them to that user (only their own
 * processes unless they are root). Either part may be missing: a box without Docker, without ss, or a user without
 * the docker group gets "unknown" for what it cannot see.
 */
export const DOCKER_SECTION = '--- docker';
export const SS_SECTION = '--- ss';
export const ownersCommand = sh`if command -v docker >/dev/null 2>&1 && d=$(docker ps --format '{{.Names}}\t{{.Ports}}' 2>/dev/null); then echo ${DOCKER_SECTION}; printf '%s\n' "$d"; fi; echo ${SS_SECTION}; ss -ltnpH 2>/dev/null; true`;

/** Published TCP ports of `docker ps --format '{{.Names}}\t{{.Ports}}'`: host port -> container and its port. */
export function publishedPorts(dockerPs: string): Map<number, Extract<PortOwner, { kind: 'container' }>> {
  const published = new Map<number, Extract<PortOwner, { kind: 'container' }>>();
  for (const line of dockerPs.split('\n')) {
    const [container, ports] = line.split('\t');
    if (!container || !ports) continue;
    // "0.0.0.0:8080->80/tcp, :::8080->80/tcp, 0.0.0.0:9000-9001->9000-9001/tcp, 5432/tcp"
    for (const [, hostFrom, hostTo, innerFrom] of ports.matchAll(/:(\d+)(?:-(\d+))?->(\d+)(?:-\d+)?\/tcp/g)) {
      const from = Number(hostFrom);
      for (let port = from; port <= Number(hostTo ?? hostFrom); port++) {
        published.set(port, { kind: 'container', container, containerPort: Number(innerFrom) + port - from });
      }
    }
  }
  return published;
}

/** Processes of `ss -ltnpH` lines that show them: local port -> the first process listed on it. */
export function listeningProcesses(ss: string): Map<number, Extract<PortOwner, { kind: 'process' }>> {
  const processes = new Map<number, Extract<PortOwner, { kind: 'process' }>>();
  for (const line of ss.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const user = /users:\(\("((?:[^"\\]|\\.)*)",pid=(\d+)/.exec(line);
    if (!local || !user) continue;
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    if (Number.isInteger(port) && !processes.has(port)) processes.set(port, { kind: 'process', command: user[1]!, pid: Number(user[2]) });
  }
  return processes;
}

/** What the owners command found: what listens on each port ("unknown" where neither part names it), and whether Docker answered. */
export function ownersFrom(output: string): { ownerOf: (port: number) => PortOwner; docker: boolean } {
  const dockerAt = output.indexOf(`${DOCKER_SECTION}\n`);
  const ssAt = output.indexOf(`${SS_SECTION}\n`);
  const docker = publishedPorts(dockerAt >= 0 ? output.slice(dockerAt + DOCKER_SECTION.length, ssAt >= 0 ? ssAt : undefined) : '');
  const processes = listeningProcesses(ssAt >= 0 ? output.slice(ssAt + SS_SECTION.length) : '');
  return { ownerOf: (port) => docker.get(port) ?? processes.get(port) ?? { kind: 'unknown' }, docker: dockerAt >= 0 };
}

const nobodyKnown = { ownerOf: (): PortOwner => ({ kind: 'unknown' }), docker: false };

/** How many times a new port whose owner is unknown is asked again (a second apart). */
const OWNERS_RETRIES = 2;

interface BoxEntry {
  ports: BoxPorts;
  /** Bumped by every report: an owners answer for an older set is dropped. */
  generation: number;
}

/**
 * The listening ports of every sampled box, in memory (the sampler's P lines, server/metrics/sampler.ts), each mapped
 * to what listens. A change is published as `change` with the box id, for the box page's card, `boxyard ls --ports`
 * and `boxyard forward --auto` (metrics.ports and metrics.followPorts).
 */
export class PortsTracker {
  private readonly boxes = new Map<string, BoxEntry>();
  private readonly events = new EventEmitter();

  constructor(private readonly options: { remote: BoxRemote; now: () => number; ownersTimeoutMs?: number; ownersRetryMs?: number }) {
    // One listener per following client (forward --auto, an open page): no leak warning at ten.
    this.events.setMaxListeners(0);
  }

  get(boxId: string): BoxPorts {
    return this.boxes.get(boxId)?.ports ?? { ports: null, since: null };
  }

  /**
   * The sampler reported the box's listening set (the first sample of a stream, then each change). What listens is
   * asked at once; where Docker runs and a port that just appeared is still unknown, again a second later (twice at
   * most): Docker listens for a container a moment before `docker ps` lists it as running.
   */
  report(boxId: string, sockets: ListeningSocket[]): void {
    const entry = this.boxes.get(boxId) ?? { ports: { ports: null, since: null }, generation: 0 };
    const generation = ++entry.generation;
    const since = this.options.now();
    const before = new Set(entry.ports.ports?.map((port) => port.port));
    this.boxes.set(boxId, entry);
    const current = () => entry.generation === generation && this.boxes.get(boxId) === entry;
    const resolve = async (attemptsLeft: number) => {
      const { ownerOf, docker } = await this.resolveOwners(boxId, sockets);
      if (!current()) return;
      const ports = { ports: sockets.map((socket): ListeningPort => ({ ...socket, owner: ownerOf(socket.port) })), since };
      const changed = JSON.stringify(ports) !== JSON.stringify(entry.ports);
      entry.ports = ports;
      if (changed) this.events.emit('change', boxId);
      if (docker && attemptsLeft > 0 && ports.ports.some((port) => port.owner.kind === 'unknown' && !before.has(port.port))) {
        setTimeout(() => void (current() && resolve(attemptsLeft - 1)), this.options.ownersRetryMs ?? 1_000).unref();
      }
    };
    void resolve(OWNERS_RETRIES);
  }

  /** Another dashboard process samples the box and published its ports (share.ts): they are these. */
  adopt(boxId: string, ports: BoxPorts): void {
    const entry = this.boxes.get(boxId) ?? { ports: { ports: null, since: null }, generation: 0 };
    entry.generation++;
    this.boxes.set(boxId, entry);
    if (JSON.stringify(ports) === JSON.stringify(entry.ports)) return;
    entry.ports = ports;
    this.events.emit('change', boxId);
  }

  /** Called with the box id at each change of a box's ports. */
  onChange(listener: (boxId: string) => void): void {
    this.events.on('change', listener);
  }

  /** The box's stream is down (or the box is gone): its ports are not known any more. */
  lost(boxId: string): void {
    const entry = this.boxes.get(boxId);
    if (!entry) return;
    this.boxes.delete(boxId);
    entry.generation++;
    if (entry.ports.ports !== null) this.events.emit('change', boxId);
  }

  /** The box's ports now, then again at every change, until `signal` aborts. */
  async *follow(boxId: string, signal?: AbortSignal): AsyncGenerator<BoxPorts> {
    // Listening before the first answer: a change between the two is not lost.
    const changes = on(this.events, 'change', { signal });
    yield this.get(boxId);
    try {
      for await (const [changed] of changes) if (changed === boxId) yield this.get(boxId);
    } catch (error) {
      if (!signal?.aborted) throw error;
    }
  }

  private async resolveOwners(boxId: string, sockets: ListeningSocket[]): Promise<ReturnType<typeof ownersFrom>> {
    if (!sockets.length) return nobodyKnown;
    try {
      const result = await this.options.remote.exec(boxId, ownersCommand, { actor: systemActor, purpose: 'ports.owners', timeoutMs: this.options.ownersTimeoutMs ?? 15_000 });
      return ownersFrom(result.stdout);
    } catch (error) {
      log.debug({ box: boxId, err: errorMessage(error) }, 'could not ask the box what listens on its ports');
      return nobodyKnown;
    }
  }
}

import type { PortAddress } from '../../lib/ports';

/**
 * Reading the sampler's stream (server/metrics/script.ts) and turning two consecutive raw samples into figures.
 * Pure functions: tested on output captured from real lab boxes (testing/fixtures/metrics).
 */

export interface SamplerHeader {
  version: number;
  /** The box is a container: CPU and memory come from its cgroup (its /proc/stat and /proc/meminfo are the host's). */
  container: boolean;
  cgroup: 'v1' | 'v2' | 'none';
  ncpu: number;
  /** sshd process serving the dashboard's connection (excluded from the login count). */
  ownPid: number;
  /** How logins are counted: sshd's children list (cheap) or a scan of every process (fallback). */
  sessionsMethod: 'children' | 'scan';
  /** Which sampler runs: the compiled one (compiled-sampler.ts) or the bash script. */
  implementation: 'c' | 'bash';
}

export interface RawSample {
  seq: number;
  /** /proc/uptime: the box's monotonic clock, used for every rate (never the wall clock). */
  uptimeS: number;
  /** The box's wall clock, informative only (a box whose clock jumps changes nothing). */
  boxClockS: number | null;
  /** /proc/stat aggregate cpu fields (jiffies). */
  cpu: number[];
  cgroupCpuUs: number | null;
  memTotalKb: number | null;
  memAvailableKb: number | null;
  cgroupMemUsed: number | null;
  cgroupMemLimit: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  /** Last pid handed out in the box's pid namespace (from /proc/loadavg). */
  lastPid: number | null;
  net: { iface: string; rx: number; tx: number }[];
  sessions: number;
  containers: { id: string; cpuUs: number }[];
  diskUsedPct: number | null;
  /** The listening TCP sockets, merged per port (P line); null when the sample has none (the set did not change). */
  listening: ListeningSocket[] | null;
}

/** A listening port as the sampler sees it; what listens comes later (ports.ts). */
export interface ListeningSocket {
  port: number;
  address: PortAddress;
}

export type StreamEvent =
  | { kind: 'header'; header: SamplerHeader }
  | { kind: 'sample'; raw: RawSample }
  | { kind: 'error'; message: string }
  /** The box has no copy of the compiled sampler for its architecture (the start command exits after this). */
  | { kind: 'upload-needed'; arch: string }
  /** The compiled sampler could not run; the bash sampler runs instead, for this reason. */
  | { kind: 'fallback'; reason: string };

function num(value: string | undefined): number | null {
  if (value === undefined || value === '-' || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function emptyRaw(): RawSample {
  return {
    seq: -1,
    uptimeS: NaN,
    boxClockS: null,
    cpu: [],
    cgroupCpuUs: null,
    memTotalKb: null,
    memAvailableKb: null,
    cgroupMemUsed: null,
    cgroupMemLimit: null,
    load1: null,
    load5: null,
    load15: null,
    lastPid: null,
    net: [],
    sessions: 0,
    containers: [],
    diskUsedPct: null,
    listening: null,
  };
}

/** IPv4 as /proc/net/tcp prints it: one 32-bit word in the kernel's (little-endian) byte order. */
function ipv4(hex: string): string {
  return [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join('.');
}

/** Text of an address from /proc/net/tcp (8 hex digits) or tcp6 (32: four such words); IPv4-mapped IPv6 reads as IPv4. */
function addressOf(hex: string): string | null {
  if (hex.length === 8) return ipv4(hex);
  if (hex.length !== 32) return null;
  const words = [0, 8, 16, 24].map((i) => hex.slice(i, i + 8));
  if (words[0] === '00000000' && words[1] === '00000000' && words[2] === 'FFFF0000') return ipv4(words[3]!);
  const bytes = words.flatMap((word) => [6, 4, 2, 0].map((i) => word.slice(i, i + 2)));
  const groups = Array.from({ length: 8 }, (_, i) => parseInt(bytes[2 * i]! + bytes[2 * i + 1]!, 16).toString(16));
  // The longest run of zero groups (two or more) becomes "::", as RFC 5952 writes it.
  let best = { at: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

const isAllInterfaces = (address: string) => address === '0.0.0.0' || address === '::';
const isLoopback = (address: string) => address.startsWith('127.') || address === '::1';

/**
 * The P line's words ("0100007F:3000") as one entry per port, sorted: a port that listens on every interface on
 * IPv4 or IPv6 listens on all; one whose every address is a loopback one is loopback only; else its addresses.
 */
export function listeningFromWords(words: string[]): ListeningSocket[] {
  const byPort = new Map<number, Set<string>>();
  for (const word of words) {
    const colon = word.lastIndexOf(':');
    const address = addressOf(word.slice(0, colon));
    const port = Number(word.slice(colon + 1));
    if (address === null || !Number.isInteger(port) || port < 1 || port > 65535) continue;
    byPort.set(port, (byPort.get(port) ?? new Set()).add(address));
  }
  return [...byPort]
    .sort(([a], [b]) => a - b)
    .map(([port, addresses]): ListeningSocket => {
      const list = [...addresses];
      if (list.some(isAllInterfaces)) return { port, address: { kind: 'all' } };
      if (list.every(isLoopback)) return { port, address: { kind: 'loopback' } };
      return { port, address: { kind: 'addresses', addresses: list.sort() } };
    });
}

/** Incremental parser: feed it chunks as they arrive; it returns complete headers and samples. */
export class SampleStreamParser {
  private buffer = '';
  private current: RawSample | null = null;
  /** Bytes of garbage tolerated in one line before the stream is declared broken. */
  private static readonly MAX_LINE = 64 * 1024;

  feed(chunk: string): StreamEvent[] {
    this.buffer += chunk;
    const events: StreamEvent[] = [];
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      const event = this.line(line);
      if (event) events.push(event);
    }
    if (this.buffer.length > SampleStreamParser.MAX_LINE) {
      this.buffer = '';
      events.push({ kind: 'error', message: 'the sampler sent a line longer than 64 KiB' });
    }
    return events;
  }

  private line(line: string): StreamEvent | null {
    const fields = line.trim().split(/\s+/);
    const tag = fields[0];
    if (!tag) return null;
    if (tag === 'H') {
      const version = num(fields[1]);
      const ncpu = num(fields[4]);
      if (version === null || ncpu === null) return { kind: 'error', message: `bad sampler header: ${line.slice(0, 200)}` };
      const cgroup = fields[3] === 'v1' || fields[3] === 'v2' ? fields[3] : 'none';
      return { kind: 'header', header: { version, container: fields[2] === '1', cgroup, ncpu: Math.max(1, ncpu), ownPid: num(fields[5]) ?? 0, sessionsMethod: fields[6] === 'children' ? 'children' : 'scan', implementation: fields[7] === 'c' ? 'c' : 'bash' } };
    }
    if (tag === 'W') return { kind: 'upload-needed', arch: fields[1] ?? '' };
    if (tag === 'F') return { kind: 'fallback', reason: line.slice(2).trim() };
    if (tag === 'T') {
      // A new block; a block cut short before its E (should not happen) is dropped.
      this.current = emptyRaw();
      this.current.uptimeS = num(fields[1]) ?? NaN;
      this.current.boxClockS = num(fields[2]);
      return null;
    }
    const raw = this.current;
    if (!raw) return null; // lines before the first T (e.g. a motd on a broken box) are ignored
    switch (tag) {
      case 'C':
        raw.cpu = fields.slice(1).map((f) => Number(f)).filter((n) => Number.isFinite(n));
        break;
      case 'G':
        raw.cgroupCpuUs = num(fields[1]);
        break;
      case 'M':
        raw.memTotalKb = num(fields[1]);
        raw.memAvailableKb = num(fields[2]);
        if (raw.memAvailableKb === null) {
          // Kernels before 3.14 have no MemAvailable: free + buffers + page cache is the classic estimate.
          const parts = [num(fields[3]), num(fields[4]), num(fields[5])];
          if (parts.every((p) => p !== null)) raw.memAvailableKb = (parts as number[]).reduce((a, b) => a + b, 0);
        }
        break;
      case 'Q':
        raw.cgroupMemUsed = num(fields[1]);
        raw.cgroupMemLimit = num(fields[2]); // "max" (v2, no limit) -> null
        break;
      case 'L':
        raw.load1 = num(fields[1]);
        raw.load5 = num(fields[2]);
        raw.load15 = num(fields[3]);
        raw.lastPid = num(fields[5]);
        break;
      case 'N': {
        const rx = num(fields[2]);
        const tx = num(fields[3]);
        if (fields[1] && rx !== null && tx !== null) raw.net.push({ iface: fields[1], rx, tx });
        break;
      }
      case 'U':
        raw.sessions = num(fields[1]) ?? 0;
        break;
      case 'K': {
        const us = num(fields[2]);
        if (fields[1] && us !== null) raw.containers.push({ id: fields[1], cpuUs: us });
        break;
      }
      case 'P':
        raw.listening = listeningFromWords(fields.slice(1));
        break;
      case 'D':
        raw.diskUsedPct = num(fields[1]);
        break;
      case 'E': {
        this.current = null;
        raw.seq = num(fields[1]) ?? -1;
        if (!Number.isFinite(raw.uptimeS) || raw.cpu.length < 4) {
          return { kind: 'error', message: `incomplete sample ${raw.seq}: no uptime or CPU line` };
        }
        return { kind: 'sample', raw };
      }
      default:
        break;
    }
    return null;
  }
}

/** One sample as the dashboard keeps it. null = not measurable (first sample, counter reset), never a zero. */
export interface Sample {
  /** Dashboard time (wall clock anchored at start-up, advanced by the monotonic clock), ms. */
  at: number;
  cpuPct: number | null;
  memUsedBytes: number | null;
  memTotalBytes: number | null;
  load1: number | null;
  diskUsedPct: number | null;
  netRxBps: number | null;
  netTxBps: number | null;
  sessions: number;
  containers: number;
  /** Last pid in the box's pid namespace: equal in consecutive samples when nothing forked (benchmarks, tests). */
  lastPid: number | null;
  /** Per running container: percent of one core over the interval. */
  containerCpuPct: number[];
  /** Host-side CPU of the VM's process, percent of one host core (set later by the host poller). */
  hostCpuPct: number | null;
}

const clampPct = (value: number) => Math.min(100, Math.max(0, value));

/** Figures for `cur`; rates need `prev` from the same stream (same boot: uptime must have advanced). */
export function deriveSample(header: SamplerHeader, prev: RawSample | null, cur: RawSample, at: number): Sample {
  const dt = prev ? cur.uptimeS - prev.uptimeS : 0;
  const comparable = prev !== null && dt > 0;

  let cpuPct: number | null = null;
  if (comparable && prev) {
    if (header.container && cur.cgroupCpuUs !== null && prev.cgroupCpuUs !== null) {
      const used = cur.cgroupCpuUs - prev.cgroupCpuUs;
      if (used >= 0) cpuPct = clampPct((used / (dt * 1e6 * header.ncpu)) * 100);
    } else if (cur.cpu.length >= 4 && prev.cpu.length >= 4) {
      // user nice system idle iowait irq softirq steal (guest time is already inside user/nice).
      const sum = (fields: number[]) => fields.slice(0, 8).reduce((a, b) => a + b, 0);
      const idle = (fields: number[]) => fields[3]! + (fields[4] ?? 0);
      const total = sum(cur.cpu) - sum(prev.cpu);
      const idleDelta = idle(cur.cpu) - idle(prev.cpu);
      if (total > 0 && idleDelta >= 0) cpuPct = clampPct(((total - idleDelta) / total) * 100);
    }
  }

  let memTotalBytes = cur.memTotalKb !== null ? cur.memTotalKb * 1024 : null;
  let memUsedBytes = cur.memTotalKb !== null && cur.memAvailableKb !== null ? (cur.memTotalKb - cur.memAvailableKb) * 1024 : null;
  if (header.container && cur.cgroupMemUsed !== null) {
    memUsedBytes = Math.max(0, cur.cgroupMemUsed);
    // cgroup v1 reports "no limit" as a huge number: then the host's memory is the ceiling.
    if (cur.cgroupMemLimit !== null && (memTotalBytes === null || cur.cgroupMemLimit < memTotalBytes)) memTotalBytes = cur.cgroupMemLimit;
  }

  let netRxBps: number | null = null;
  let netTxBps: number | null = null;
  if (comparable && prev) {
    let rx = 0;
    let tx = 0;
    let any = false;
    for (const now of cur.net) {
      const before = prev.net.find((n) => n.iface === now.iface);
      // A counter that went down (interface re-created, 32-bit wrap) says nothing about this interval.
      if (!before || now.rx < before.rx || now.tx < before.tx) continue;
      rx += now.rx - before.rx;
      tx += now.tx - before.tx;
      any = true;
    }
    if (any) {
      netRxBps = rx / dt;
      netTxBps = tx / dt;
    }
  }

  const containerCpuPct: number[] = [];
  for (const c of cur.containers) {
    const before = comparable ? prev?.containers.find((p) => p.id === c.id) : undefined;
    // A container that just started has no delta yet: counted as running, its CPU as unknown (treated as busy).
    containerCpuPct.push(before && c.cpuUs >= before.cpuUs ? ((c.cpuUs - before.cpuUs) / (dt * 1e6)) * 100 : Number.NaN);
  }

  return {
    at,
    cpuPct,
    memUsedBytes,
    memTotalBytes,
    load1: cur.load1,
    diskUsedPct: cur.diskUsedPct,
    netRxBps,
    netTxBps,
    sessions: cur.sessions,
    containers: cur.containers.length,
    lastPid: cur.lastPid,
    containerCpuPct,
    hostCpuPct: null,
  };
}

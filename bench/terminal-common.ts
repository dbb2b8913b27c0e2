// Shared by the terminal benchmarks (terminal-latency, terminal-throughput, terminal-many): the backend in-process
// behind a real HTTP server with the terminal upgrade handler (testing/helpers/terminals.ts, as the terminal
// tests do: a real better-auth session cookie, the real Origin check), a lean WebSocket client that acks like the
// browser does, and a plain ssh2 shell to the same lab box for reference.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, type ClientChannel } from 'ssh2';
import { WebSocket } from 'ws';
import { TERMINAL_PATH, type ClientMessage, type ServerMessage } from '../lib/terminal-protocol';
import { startBackend, type Backend } from '../testing/helpers/terminals';
import { Wakeups } from '../testing/helpers/wait';
import { labKeyPair, type LabBox } from '../testing/lab/lab';
import { machine, printMachine, removeLabBoxesOnInterrupt, round, type Machine } from './common';

export { startBackend, type Backend };

/**
 * What every terminal benchmark does first: says what it measures, on which machine and under which load, and
 * removes its lab boxes (and the backend's data folders, pushed to tempDirs later) on Ctrl-C.
 */
export function beginTerminalBench(headline: string): { machine: Machine; loadBefore: Load; tempDirs: string[] } {
  const m = machine();
  console.log(headline);
  printMachine(m);
  const loadBefore = machineLoad();
  printLoad('load before', loadBefore);
  const tempDirs: string[] = [];
  removeLabBoxesOnInterrupt(tempDirs);
  return { machine: m, loadBefore, tempDirs };
}

/** components/terminal/terminal-connection.ts: acks are sent at once past 64 KiB processed, else after 20 ms. */
export const BROWSER_ACK_BATCH_BYTES = 64 * 1024;
export const BROWSER_ACK_DELAY_MS = 20;

export const TERM_SIZE = { cols: 80, rows: 24 } as const;

/** What else runs on the machine: the figures share the 2 cores with it. */
export interface Load {
  loadavg: number[];
  /** Lab containers of other processes (another engineer's e2e run, for example). */
  otherLabContainers: number;
}

export function machineLoad(): Load {
  const ids = spawnSync('docker', ['ps', '--quiet', '--filter', 'label=boxyard-lab=1'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  const ours = spawnSync('docker', ['ps', '--quiet', '--filter', `label=boxyard-lab.pid=${process.pid}`], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  return { loadavg: os.loadavg().map((l) => round(l, 2)), otherLabContainers: ids.length - ours.length };
}

export function printLoad(label: string, load: Load): void {
  console.log(`${label}: loadavg ${load.loadavg.join(' ')}; lab containers of other processes running: ${load.otherLabContainers}`);
}

/** Output kept for finding markers (a prompt plus a command's short output). */
const TAIL_BYTES = 1024;

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `work`, or after `timeoutMs` the result of `onTimeout` (which may throw). The timer is cleared as soon as `work`
 * settles: a pending timer per session would keep its closure, and the RSS these scripts read, alive for the timeout.
 */
export function withTimeout<T, U = never>(work: Promise<T>, timeoutMs: number, onTimeout: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<U>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Runs global.gc (twice, so weak callbacks and finalizers run) when the script was started with --expose-gc. */
export async function forceGc(): Promise<boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  await sleep(50);
  gc();
  return true;
}

/**
 * Watches an output stream without keeping it: counts bytes, keeps the last TAIL_BYTES in a fixed buffer for markers,
 * and remembers when the last chunk arrived (taken in the data handler itself, so promise scheduling is not timed).
 * It allocates nothing per chunk: this client shares the process (and its garbage collector) with the server.
 */
export class OutputWatcher {
  bytes = 0;
  chunks = 0;
  lastChunkAt = 0;
  lastChunk: Buffer | null = null;
  /** The last `tailLength` bytes received, oldest first (always contiguous, so a marker split across chunks is found). */
  private readonly tail = Buffer.alloc(TAIL_BYTES);
  private tailLength = 0;
  private readonly arrivals = new Wakeups();

  feed(chunk: Buffer): void {
    this.lastChunkAt = performance.now();
    this.bytes += chunk.length;
    this.chunks++;
    this.lastChunk = chunk;
    if (chunk.length >= TAIL_BYTES) {
      chunk.copy(this.tail, 0, chunk.length - TAIL_BYTES);
      this.tailLength = TAIL_BYTES;
    } else {
      const keep = Math.min(this.tailLength, TAIL_BYTES - chunk.length);
      this.tail.copyWithin(0, this.tailLength - keep, this.tailLength);
      chunk.copy(this.tail, keep);
      this.tailLength = keep + chunk.length;
    }
    this.arrivals.wake();
  }

  /** The tail as text (decoded on demand). */
  get text(): string {
    return this.tail.toString('latin1', 0, this.tailLength);
  }

  /** Whether the tail holds `marker` (no decoding). */
  tailIncludes(marker: Buffer): boolean {
    const at = this.tail.indexOf(marker);
    return at !== -1 && at + marker.length <= this.tailLength;
  }

  /** Forgets the tail, so a marker is looked for only in output from now on. */
  clearTail(): void {
    this.tail.fill(0);
    this.tailLength = 0;
  }

  until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return this.arrivals.until(check, timeoutMs, () => `timed out after ${timeoutMs} ms waiting for ${what}; output tail ${JSON.stringify(this.text.slice(-200))}`);
  }

  untilText(marker: string, timeoutMs?: number): Promise<void> {
    const bytes = Buffer.from(marker, 'latin1');
    return this.until(() => this.tailIncludes(bytes), JSON.stringify(marker), timeoutMs);
  }

  /** Resolves once `count` more bytes than `since` have arrived. */
  untilBytes(since: number, count: number, timeoutMs?: number): Promise<void> {
    return this.until(() => this.bytes >= since + count, `${count} more bytes`, timeoutMs);
  }

  /** Resolves once no output has arrived for `quietMs` (e.g. the prompt has been drawn). */
  async untilQuiet(quietMs: number, timeoutMs = 15_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = this.bytes;
      await sleep(quietMs);
      if (this.bytes === seen) return;
      if (performance.now() > deadline) throw new Error(`output did not go quiet within ${timeoutMs} ms; tail ${JSON.stringify(this.text.slice(-200))}`);
    }
  }
}

export type AckPolicy = 'browser' | 'frame' | 'none';

export interface BenchTerminalOptions {
  cookie: string;
  origin: string;
  session?: string;
  mode?: 'new' | 'attach';
  /** 'browser': 64 KiB batches or 20 ms, like terminal-connection.ts (default); 'frame': every frame at once; 'none': never. */
  acks?: AckPolicy;
}

/**
 * One browser terminal as the server sees it (lib/terminal-protocol.ts), kept lean: output is counted and its tail
 * kept (OutputWatcher), never stored, because this client runs in the same process as the server whose RSS we read.
 */
export class BenchTerminal {
  readonly session: string;
  readonly ws: WebSocket;
  readonly out = new OutputWatcher();
  readonly states: string[] = [];
  readonly errors: string[] = [];
  readonly createdAt = performance.now();
  readyAt = 0;
  /** Resolves at the `ready` state; rejects if the socket closes first. */
  readonly ready: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string; at: number }>;
  ackedBytes = 0;
  acksSent = 0;
  private unacked = 0;
  private ackTimer: NodeJS.Timeout | undefined;
  private readonly acks: AckPolicy;

  constructor(baseUrl: string, box: string, options: BenchTerminalOptions) {
    this.session = options.session ?? randomUUID();
    this.acks = options.acks ?? 'browser';
    const params = new URLSearchParams({
      session: this.session,
      box,
      cols: String(TERM_SIZE.cols),
      rows: String(TERM_SIZE.rows),
      mode: options.mode ?? 'new',
    });
    this.ws = new WebSocket(`${baseUrl}${TERMINAL_PATH}?${params}`, { origin: options.origin, headers: { cookie: options.cookie } });
    this.ws.on('error', () => undefined); // the close event reports it
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: performance.now() })));
    this.ready = new Promise((resolve, reject) => {
      this.ws.on('message', (data: Buffer, isBinary) => {
        if (isBinary) {
          this.out.feed(data);
          this.processed(data.length);
          return;
        }
        const message = JSON.parse(data.toString()) as ServerMessage;
        if (message.type === 'state') {
          this.states.push(message.state);
          if (message.state === 'ready') {
            this.readyAt = performance.now();
            resolve();
          }
        } else if (message.type === 'error') this.errors.push(message.message);
      });
      void this.closed.then(({ code, reason }) => reject(new Error(`terminal closed before ready: ${code} ${reason}`)));
    });
    this.ready.catch(() => undefined); // observed by whoever awaits it
  }

  send(message: ClientMessage): void {
    this.ws.send(JSON.stringify(message));
  }

  type(text: string): void {
    this.send({ type: 'input', data: text });
  }

  /** Sends `close` and waits for the server to close the socket (4409 when the session ended). */
  async end(timeoutMs = 15_000): Promise<{ code: number; reason: string; at: number }> {
    if (this.ws.readyState === WebSocket.OPEN) this.send({ type: 'close' });
    return withTimeout(this.closed, timeoutMs, () => ({ code: -1, reason: `no close within ${timeoutMs} ms`, at: performance.now() }));
  }

  terminate(): void {
    clearTimeout(this.ackTimer);
    this.ws.terminate();
  }

  /** As the browser's TerminalConnection: output written to the terminal (here: at once) is acked in batches. */
  private processed(bytes: number): void {
    if (this.acks === 'none') return;
    this.unacked += bytes;
    if (this.acks === 'frame' || this.unacked >= BROWSER_ACK_BATCH_BYTES) this.flushAcks();
    else this.ackTimer ??= setTimeout(() => this.flushAcks(), BROWSER_ACK_DELAY_MS);
  }

  private flushAcks(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.unacked > 0 && this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: 'ack', bytes: this.unacked });
      this.ackedBytes += this.unacked;
      this.acksSent++;
      this.unacked = 0;
    }
  }
}

/** A plain ssh2 client with one shell channel on a PTY of the same size, term and LANG the dashboard asks for. */
export interface DirectShell {
  client: Client;
  channel: ClientChannel;
  out: OutputWatcher;
  close(): Promise<void>;
}

export async function openDirectShell(box: LabBox): Promise<DirectShell> {
  const { privateKey } = await labKeyPair();
  const client = new Client();
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => {
      // As the dashboard's pool does (server/ssh/pool.ts), so both paths send small packets at once.
      client.setNoDelay(true);
      resolve();
    });
    client.once('error', reject);
    client.connect({ host: box.host, port: box.port, username: box.user, privateKey, hostVerifier: () => true, readyTimeout: 20_000 });
  });
  client.on('error', (error) => console.error(`bench: direct ssh2 client error: ${error.message}`));
  const channel = await new Promise<ClientChannel>((resolve, reject) => {
    client.shell({ ...TERM_SIZE, term: 'xterm-256color' }, { env: { LANG: 'C.UTF-8' } as unknown as NodeJS.ProcessEnv }, (error, ch) => (error ? reject(error) : resolve(ch)));
  });
  const out = new OutputWatcher();
  channel.on('data', (chunk: Buffer) => out.feed(chunk));
  channel.stderr.on('data', (chunk: Buffer) => out.feed(chunk));
  return {
    client,
    channel,
    out,
    async close() {
      const closed = new Promise((resolve) => channel.once('close', resolve));
      channel.close();
      await Promise.race([closed, sleep(2_000)]);
      client.end();
    },
  };
}

/**
 * This process's RSS by kind of mapping (Linux /proc/self/smaps), in MiB, to tell where RSS outside the JS heap
 * sits: `brkHeap` is glibc malloc's main arena; `anonReservations` anonymous mappings of 1 GiB or more of address
 * space (WebAssembly memories reserve that much; Prisma's query compiler is wasm); `anonOther` the rest of the
 * anonymous memory (V8's heap pages, other malloc arenas, thread stacks); `files` the node binary, native addons and
 * other mapped files.
 */
export interface RssByMapping {
  brkHeap: number;
  anonReservations: number;
  anonOther: number;
  files: number;
  total: number;
}

export function rssByMapping(): RssByMapping | null {
  let text: string;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return null;
  }
  const kb = { brkHeap: 0, anonReservations: 0, anonOther: 0, files: 0 };
  let kind: keyof typeof kb = 'anonOther';
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const size = Number(BigInt(`0x${header[2]}`) - BigInt(`0x${header[1]}`));
      const path = header[3]!.trim();
      kind = path === '[heap]' ? 'brkHeap' : path === '' || path.startsWith('[') ? (size >= 2 ** 30 ? 'anonReservations' : 'anonOther') : 'files';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[kind] += Number(rss[1]);
  }
  const mib = (v: number) => round(v / 1024, 1);
  return {
    brkHeap: mib(kb.brkHeap),
    anonReservations: mib(kb.anonReservations),
    anonOther: mib(kb.anonOther),
    files: mib(kb.files),
    total: mib(kb.brkHeap + kb.anonReservations + kb.anonOther + kb.files),
  };
}

/** The backend data dir, so an interrupt handler can remove it. */
export function dataDirOf(backend: Backend): string {
  return backend.services.env.dataDir;
}

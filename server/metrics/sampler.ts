import { performance } from 'node:perf_hooks';
import type { ClientChannel } from 'ssh2';
import { recordAudit, systemActor } from '../audit/audit';
import type { BoxRemote } from '../boxes/remote';
import type { Db } from '../db/client';
import { logger } from '../log';
import type { OpenChannel } from '../ssh/pool';
import { deriveSample, SampleStreamParser, type ListeningSocket, type RawSample, type Sample, type SamplerHeader } from './parse';
import { buildFor, samplerCommand, uploadCommand, UPLOAD_NEEDED_EXIT, type CompiledSampler } from './compiled-sampler';
import { errorMessage } from '../../lib/errors';

const log = logger.child({ module: 'metrics' });

/** Dashboard time: the wall clock read once at start, advanced by the monotonic clock (a clock step changes nothing). */
export class DashboardClock {
  private readonly wall = Date.now();
  private readonly mono = performance.now();
  now(): number {
    return Math.round(this.wall + (performance.now() - this.mono));
  }
}

/** A sample in the ring, or a gap: the stream was down from `at` until the next sample (never drawn as zero). */
export type RingEntry = (Sample & { gap?: false }) | { at: number; gap: true; reason: string };

export interface SamplerOptions {
  db: Db;
  remote: BoxRemote;
  clock: DashboardClock;
  /** Current intervals, read at every decision (settings can change while running). */
  intervals: () => { slowS: number; fastS: number };
  /** How often the box list is re-read to start and stop streams. */
  reconcileMs?: number;
  /** Reconnect backoff after a stream ended or could not start: doubles up to max, with jitter. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Samples kept in memory per box. */
  ringSize?: number;
  /** Seconds between two disk-use readings on the box. */
  diskEveryS?: number;
  /** Builds of the compiled sampler (compiled-sampler.ts); boxes of another architecture, or none given: bash. */
  compiled?: readonly CompiledSampler[];
  onSample?: (boxId: string, sample: Sample) => void;
  onGap?: (boxId: string, at: number, reason: string) => void;
  /** The box's listening TCP sockets, when the sampler reports a change; null: not known any more (stream down or stopped). */
  onListening?: (boxId: string, sockets: ListeningSocket[] | null) => void;
  /** Whether this process samples the box (several processes share the boxes); every box by default. */
  owns?: (boxId: string) => boolean;
  /** A page watches a box that another process samples: tell it to sample fast (share.ts). */
  onWatchElsewhere?: (boxId: string, ttlMs: number) => void;
}

/** A box another dashboard process samples: its samples and gaps as that process published them. */
interface FollowedBox {
  ring: RingEntry[];
  /** Runner id of the process that sent the last entry; null: not heard from since this process stopped sampling it. */
  from: string | null;
  header: SamplerHeader | null;
  intervalS: number;
  lastSampleAt: number | null;
  lastSampleMono: number | null;
}

/** The box columns a stream's connection depends on (address, user, credentials, pin). */
type StreamConfig = Pick<NonNullable<Awaited<ReturnType<Db['box']['findUnique']>>>, 'host' | 'port' | 'sshUser' | 'authMethod' | 'secretCipher' | 'hostKeyFingerprint'>;

/**
 * Whether a stream started with `started` must restart (a new connection) for `now`. A pin made by its first
 * connection (null -> fingerprint) is not a change.
 */
function configChanged(started: StreamConfig, now: StreamConfig): boolean {
  const repinned = started.hostKeyFingerprint !== null && started.hostKeyFingerprint !== now.hostKeyFingerprint;
  return (
    repinned ||
    started.host !== now.host ||
    started.port !== now.port ||
    started.sshUser !== now.sshUser ||
    started.authMethod !== now.authMethod ||
    started.secretCipher !== now.secretCipher
  );
}

/** Box states the sampler does not try: a wrong key or a changed host key needs a person, not retries. */
const SKIPPED_STATUSES = new Set(['auth-failed', 'host-key-mismatch']);

export interface StreamView {
  boxId: string;
  state: 'connecting' | 'streaming' | 'waiting';
  intervalS: number;
  lastSampleAt: number | null;
  reconnects: number;
  lastError: string | null;
  header: SamplerHeader | null;
  /** Why this box runs the bash sampler although a compiled build exists (an upload or a run that failed). */
  compiledNote: string | null;
}

interface SamplerRun {
  exitCode: number | null;
  stderr: string;
  /** The box asked for the compiled sampler of this architecture (it had no copy). */
  uploadArch: string | null;
}

class BoxStream {
  state: StreamView['state'] = 'connecting';
  header: SamplerHeader | null = null;
  prev: RawSample | null = null;
  lastSampleMono: number | null = null;
  lastSampleAt: number | null = null;
  sentIntervalS = 0;
  reconnects = 0;
  lastError: string | null = null;
  /** The running sampler's channel. */
  running: OpenChannel | null = null;
  compiledNote: string | null = null;
  private compiled: readonly CompiledSampler[];
  /** The stream is being restarted on purpose (a new login): not a gap, no backoff. */
  private moving = false;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    readonly boxId: string,
    /** Address, user, credentials and pin when started: a change restarts the stream (new connection). */
    readonly config: StreamConfig,
    private readonly owner: MetricsSampler,
    private readonly options: Required<Pick<SamplerOptions, 'backoffInitialMs' | 'backoffMaxMs' | 'ringSize' | 'diskEveryS'>> & SamplerOptions,
    /** What is known of the box already (another process sampled it until now): kept, and carried on. */
    public ring: RingEntry[] = [],
  ) {
    this.compiled = options.compiled ?? [];
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wake?.();
    // EOF on the sampler's stdin ends its loop.
    this.running?.close();
    await this.loop;
    this.options.onListening?.(this.boxId, null);
  }

  private wake: (() => void) | null = null;

  private async run(): Promise<void> {
    while (!this.stopped) {
      const started = performance.now();
      try {
        await this.streamOnce();
        if (this.stopped) return;
        if (this.moving) {
          this.moving = false;
          continue;
        }
        this.lastError ??= 'the sampler stream ended';
      } catch (error) {
        this.lastError = errorMessage(error);
      }
      if (this.stopped) return;
      this.running = null;
      this.markGap(this.lastError ?? 'stream ended');
      this.state = 'waiting';
      this.reconnects++;
      // A stream that delivered for a while starts the backoff afresh.
      if (performance.now() - started > 60_000 && this.lastSampleMono !== null && this.lastSampleMono > started) this.failures = 0;
      const backoff = Math.min(this.options.backoffInitialMs * 2 ** this.failures, this.options.backoffMaxMs);
      this.failures++;
      const delay = backoff * (0.5 + Math.random() / 2);
      log.debug({ box: this.boxId, delay: Math.round(delay), err: this.lastError }, 'sampler stream down; reconnecting later');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, delay);
      });
      this.wake = null;
      this.state = 'connecting';
    }
  }

  private markGap(reason: string): void {
    // Consecutive failures make one gap; the next real sample closes it.
    const last = this.ring[this.ring.length - 1];
    if (last?.gap) return;
    const at = this.options.clock.now();
    this.push({ at, gap: true, reason });
    this.prev = null;
    this.header = null;
    this.lastSampleMono = null;
    this.options.onGap?.(this.boxId, at, reason);
    this.options.onListening?.(this.boxId, null);
  }

  private push(entry: RingEntry): void {
    this.ring.push(entry);
    if (this.ring.length > this.options.ringSize) this.ring.splice(0, this.ring.length - this.options.ringSize);
  }

  private async streamOnce(): Promise<void> {
    const box = await this.options.db.box.findUnique({ where: { id: this.boxId } });
    if (!box) {
      this.stopped = true;
      return;
    }
    for (let uploaded = false; ; uploaded = true) {
      const run = await this.runSampler(box.id);
      if (run.uploadArch === null || this.stopped || run.exitCode !== UPLOAD_NEEDED_EXIT) {
        if (run.exitCode === 127) this.lastError = `${box.name} has no bash; the sampler needs bash on the box`;
        else if (run.stderr.trim()) this.lastError = `sampler stopped: ${run.stderr.trim().slice(0, 300)}`;
        else this.lastError = run.exitCode === 0 ? 'the sampler stream ended' : 'the connection to the box dropped';
        return;
      }
      if (uploaded) this.refuseCompiled('the compiled sampler was uploaded, but the box still does not find it in ~/.cache/boxyard');
      else await this.upload(box, run.uploadArch);
    }
  }

  /** The bash sampler from now on, for this reason (shown on the box page). */
  private refuseCompiled(reason: string): void {
    this.compiled = [];
    this.compiledNote = reason;
    log.warn({ box: this.boxId, reason }, 'the compiled sampler is not used on this box');
  }

  private async upload(box: { id: string; name: string }, arch: string): Promise<void> {
    const build = buildFor(this.compiled, arch);
    if (!build) return this.refuseCompiled(`no compiled sampler for ${arch}`);
    const result = await this.options.remote.exec(box.id, uploadCommand(build), {
      actor: systemActor,
      purpose: 'sampler.upload',
      stdin: build.gzipped,
      timeoutMs: 120_000,
    });
    const ok = result.code === 0;
    // An executable written to the box is a remote action like any other: audited.
    await recordAudit(this.options.db, {
      actor: systemActor,
      action: 'box.sampler.upload',
      box: { id: box.id, name: box.name },
      detail: { arch: build.arch, sha256: build.sha256, bytes: build.bytes.length, sentBytes: build.gzipped.length },
      result: ok ? 'ok' : 'error',
    });
    if (!ok) this.refuseCompiled(`the compiled sampler could not be stored on the box (${result.stderr.trim().split('\n')[0]?.slice(0, 200) || `exit ${result.code}`})`);
  }

  private async runSampler(boxId: string): Promise<SamplerRun> {
    const intervalS = this.owner.intervalFor(this.boxId);
    const run: SamplerRun = { exitCode: null, stderr: '', uploadArch: null };
    let closed!: Promise<void>;
    const running = await this.options.remote.openChannel(boxId, {
      command: samplerCommand(this.compiled, intervalS, this.options.diskEveryS),
      signal: this.abort.signal,
      // From the first byte: a compiled sampler with no copy on the box asks for it and exits at once.
      onOpen: (channel) => (closed = this.listen(channel, run)),
    });
    if (this.stopped) running.close();
    this.running = running;
    this.sentIntervalS = intervalS;
    this.state = 'streaming';
    await closed;
    if (this.running === running) this.running = null;
    return run;
  }

  /** Takes the sampler's output into the ring and `run`; resolves when the channel closes. */
  private listen(channel: ClientChannel, run: SamplerRun): Promise<void> {
    const parser = new SampleStreamParser();
    channel.on('data', (chunk: Buffer) => {
      for (const event of parser.feed(chunk.toString('utf8'))) {
        if (event.kind === 'header') this.header = event.header;
        else if (event.kind === 'sample') this.onRaw(event.raw);
        else if (event.kind === 'upload-needed') run.uploadArch = event.arch;
        else if (event.kind === 'fallback') this.refuseCompiled(event.reason);
        else log.warn({ box: this.boxId, msg: event.message }, 'sampler output not understood');
      }
    });
    channel.stderr.on('data', (chunk: Buffer) => {
      if (run.stderr.length < 2_000) run.stderr += chunk.toString('utf8');
    });
    channel.on('exit', (code: number | null) => {
      run.exitCode = code;
    });
    return new Promise((resolve) => channel.once('close', () => resolve()));
  }

  private onRaw(raw: RawSample): void {
    if (!this.header) return;
    // A reboot (uptime went back) or a restarted stream: no deltas across it.
    const prev = this.prev && raw.uptimeS > this.prev.uptimeS ? this.prev : null;
    const sample = deriveSample(this.header, prev, raw, this.options.clock.now());
    this.prev = raw;
    this.lastSampleMono = performance.now();
    this.lastSampleAt = sample.at;
    this.lastError = null;
    this.push(sample);
    this.options.onSample?.(this.boxId, sample);
    if (raw.listening) this.options.onListening?.(this.boxId, raw.listening);
  }

  /** Tells the running sampler a new interval (it also takes a sample at once). */
  setInterval(intervalS: number): void {
    if (!this.running || intervalS === this.sentIntervalS) return;
    this.sentIntervalS = intervalS;
    this.running.channel.write(`${intervalS}\n`);
  }

  /**
   * No sample for three intervals (plus slack): the channel is stuck; close it so the loop reconnects. A refreshed
   * login (SshPool.refresh, e.g. after the Docker job added the user to a group): end the sampler so the next one
   * starts on the new connection and the old one can close.
   */
  checkStale(nowMono: number): void {
    if (!this.running || this.lastSampleMono === null) return;
    if (this.running.refreshed() && !this.moving) {
      this.moving = true;
      this.running.channel.end();
      return;
    }
    const limit = Math.max(3 * this.sentIntervalS * 1000, 15_000) + 10_000;
    if (nowMono - this.lastSampleMono > limit) {
      this.lastError = `no sample for ${Math.round((nowMono - this.lastSampleMono) / 1000)} s`;
      this.running.channel.close();
    }
  }

  view(): StreamView {
    return {
      boxId: this.boxId,
      state: this.state,
      intervalS: this.sentIntervalS,
      lastSampleAt: this.lastSampleAt,
      reconnects: this.reconnects,
      lastError: this.lastError,
      header: this.header,
      compiledNote: this.compiledNote,
    };
  }
}

/**
 * One long-lived sampler per box (see script.ts), over the box's pooled SSH connection (it holds one channel slot).
 * Adaptive interval: fast while someone watches the box's page (watch pings with a time to live), slow otherwise.
 * Streams reconnect with backoff; a dropped stream is recorded as a gap in the ring, and the idle tracker hears of it.
 * Explicit start()/stop(); no timers before start().
 */
export class MetricsSampler {
  private readonly streams = new Map<string, BoxStream>();
  /** Boxes that other processes sample (several dashboards on one database), fed by follow(). */
  private readonly followed = new Map<string, FollowedBox>();
  /** boxId -> monotonic ms until which the box is watched. */
  private readonly watchers = new Map<string, number>();
  private reconcileTimer: NodeJS.Timeout | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly options: SamplerOptions & Required<Pick<SamplerOptions, 'backoffInitialMs' | 'backoffMaxMs' | 'ringSize' | 'diskEveryS'>>;
  /** Restricts the sampler to these boxes (tests, benchmarks); null = every box. */
  private only: Set<string> | null = null;

  constructor(options: SamplerOptions) {
    this.options = { backoffInitialMs: 2_000, backoffMaxMs: 60_000, ringSize: 1_800, diskEveryS: 300, ...options };
  }

  async start(options: { only?: string[] } = {}): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.only = options.only ? new Set(options.only) : null;
    await this.reconcile();
    this.reconcileTimer = setInterval(() => void this.reconcile().catch((error: unknown) => log.warn({ err: String(error) }, 'metrics reconcile failed')), this.options.reconcileMs ?? 15_000);
    this.tickTimer = setInterval(() => this.tick(), 1_000);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.reconcileTimer = this.tickTimer = null;
    await Promise.all([...this.streams.values()].map((stream) => stream.stop()));
    this.streams.clear();
  }

  /** Starts streams for new boxes and stops those of deleted (or no longer sampled) ones. */
  async reconcile(): Promise<void> {
    if (!this.running) return;
    const boxes = await this.options.db.box.findMany({
      select: { id: true, status: true, host: true, port: true, sshUser: true, authMethod: true, secretCipher: true, hostKeyFingerprint: true },
    });
    const wanted = new Map<string, StreamConfig>();
    const owns = this.options.owns ?? (() => true);
    const existing = new Set(boxes.map((box) => box.id));
    for (const { id, status, ...config } of boxes) {
      if (!SKIPPED_STATUSES.has(status) && (!this.only || this.only.has(id)) && owns(id)) wanted.set(id, config);
    }
    for (const id of this.followed.keys()) if (!existing.has(id)) this.followed.delete(id);
    for (const [id, stream] of this.streams) {
      // Deleted, no longer sampled, or its address/credentials changed (the old connection would go on forever).
      const config = wanted.get(id);
      if (config === undefined || configChanged(stream.config, config)) {
        this.streams.delete(id);
        void stream.stop();
        // Another process samples it now: what is known of it stays, and its samples follow.
        if (config === undefined && existing.has(id)) this.followed.set(id, { ring: stream.ring, from: null, header: stream.header, intervalS: stream.sentIntervalS, lastSampleAt: stream.lastSampleAt, lastSampleMono: null });
      }
    }
    for (const [id, config] of wanted) {
      if (this.streams.has(id) || !this.running) continue;
      const stream = new BoxStream(id, config, this, this.options, this.followed.get(id)?.ring);
      this.followed.delete(id);
      this.streams.set(id, stream);
      stream.start();
    }
  }

  /**
   * A sample or gap of a box that another process samples, as it published it. Ignored for a box this process
   * samples itself (a late message from the previous owner).
   */
  follow(boxId: string, from: string, entry: RingEntry, stream: { header: SamplerHeader | null; intervalS: number }): void {
    if (this.streams.has(boxId)) return;
    const box = this.followed.get(boxId) ?? { ring: [], from, header: null, intervalS: 0, lastSampleAt: null, lastSampleMono: null };
    this.followed.set(boxId, box);
    // Another process took over before this one's registry noticed the last one leave: the break between is a gap.
    if (!entry.gap && box.from !== null && box.from !== from && !box.ring[box.ring.length - 1]?.gap) {
      box.ring.push({ at: entry.at - 1, gap: true, reason: 'another dashboard process samples this box now' });
    }
    box.from = from;
    if (entry.gap) {
      if (box.ring[box.ring.length - 1]?.gap) return;
    } else {
      box.header = stream.header;
      box.intervalS = stream.intervalS;
      box.lastSampleAt = entry.at;
      box.lastSampleMono = performance.now();
    }
    box.ring.push(entry);
    if (box.ring.length > this.options.ringSize) box.ring.splice(0, box.ring.length - this.options.ringSize);
  }

  /**
   * These processes stopped or died: the boxes they sampled have a gap from now until their new sampler's first
   * sample (never a line drawn across, never zeros). Returns those boxes.
   */
  sourcesGone(runnerIds: readonly string[], at: number, reason: string): string[] {
    const boxes: string[] = [];
    for (const [boxId, box] of this.followed) {
      if (box.from === null || !runnerIds.includes(box.from)) continue;
      box.from = null;
      box.lastSampleMono = null;
      boxes.push(boxId);
      if (!box.ring[box.ring.length - 1]?.gap) box.ring.push({ at, gap: true, reason });
    }
    return boxes;
  }

  /** Whether this process runs the box's sampler (else another process does, or none). */
  samples(boxId: string): boolean {
    return this.streams.has(boxId);
  }

  /** The box's page is open: sample fast for ttlMs (the page pings again before it runs out). Not activity. */
  watch(boxId: string, ttlMs = 30_000): void {
    this.watchers.set(boxId, performance.now() + ttlMs);
    const stream = this.streams.get(boxId);
    if (stream) stream.setInterval(this.intervalFor(boxId));
    else if (this.followed.has(boxId)) this.options.onWatchElsewhere?.(boxId, ttlMs);
  }

  unwatch(boxId: string): void {
    this.watchers.delete(boxId);
    this.streams.get(boxId)?.setInterval(this.intervalFor(boxId));
  }

  intervalFor(boxId: string): number {
    const { slowS, fastS } = this.options.intervals();
    const until = this.watchers.get(boxId);
    return until !== undefined && until > performance.now() ? fastS : slowS;
  }

  /** Applies interval changes (watch expiry, settings) and closes stuck streams. */
  tick(): void {
    const now = performance.now();
    for (const [boxId, until] of this.watchers) if (until <= now) this.watchers.delete(boxId);
    for (const stream of this.streams.values()) {
      stream.setInterval(this.intervalFor(stream.boxId));
      stream.checkStale(now);
    }
  }

  /** Samples and gaps kept in memory for the box, oldest first, from `since` (dashboard ms). */
  recent(boxId: string, since = 0): RingEntry[] {
    const ring = this.ringOf(boxId);
    return since ? ring.filter((entry) => entry.at >= since) : ring.slice();
  }

  latest(boxId: string): Sample | null {
    const ring = this.ringOf(boxId);
    const last = ring[ring.length - 1];
    return last && !last.gap ? last : null;
  }

  /** Up: a sample arrived within three intervals. */
  isUp(boxId: string): boolean {
    const stream = this.streams.get(boxId) ?? this.followed.get(boxId);
    if (!stream || stream.lastSampleMono === null) return false;
    if (stream instanceof BoxStream ? !stream.running : stream.ring[stream.ring.length - 1]?.gap) return false;
    const intervalS = stream instanceof BoxStream ? stream.sentIntervalS : stream.intervalS;
    return performance.now() - stream.lastSampleMono < Math.max(3 * intervalS * 1000, 10_000) + 5_000;
  }

  streamView(boxId: string): StreamView | null {
    const stream = this.streams.get(boxId);
    if (stream) return stream.view();
    const box = this.followed.get(boxId);
    if (!box) return null;
    const last = box.ring[box.ring.length - 1];
    return {
      boxId,
      state: last?.gap ? 'waiting' : 'streaming',
      intervalS: box.intervalS,
      lastSampleAt: box.lastSampleAt,
      reconnects: 0,
      lastError: last?.gap ? last.reason : null,
      header: box.header,
      compiledNote: null,
    };
  }

  /** Every box with samples here: those this process samples and those it follows. */
  boxIds(): string[] {
    return [...this.streams.keys(), ...this.followed.keys()];
  }

  private ringOf(boxId: string): RingEntry[] {
    return this.streams.get(boxId)?.ring ?? this.followed.get(boxId)?.ring ?? [];
  }
}

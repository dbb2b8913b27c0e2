// Shared by the bench/ scripts: machine description, sample statistics, RSS sampling and the JSON copy of figures.
// Scripts import './quiet' first so the server's logger is created at warn level (set LOG_LEVEL to override).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, '.results');

export interface Machine {
  date: string;
  cores: number;
  cpuModel: string;
  totalMemoryGiB: number;
  node: string;
  platform: string;
  kernel: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    cores: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    totalMemoryGiB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel: os.release(),
  };
}

export function printMachine(m: Machine): void {
  console.log(`machine: ${m.cores} cores (${m.cpuModel}), ${m.totalMemoryGiB} GiB RAM, node ${m.node}, ${m.platform}, kernel ${m.kernel}`);
  console.log(`date:    ${m.date}`);
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export interface Summary {
  n: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) return { n: 0, min: NaN, median: NaN, mean: NaN, p90: NaN, p99: NaN, max: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    n: sorted.length,
    min: round(sorted[0], 3),
    median: round(median, 3),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length, 3),
    p90: round(percentile(sorted, 90), 3),
    p99: round(percentile(sorted, 99), 3),
    max: round(sorted[sorted.length - 1], 3),
  };
}

export function formatSummary(s: Summary, unit = 'ms'): string {
  return `n=${s.n} min=${s.min} median=${s.median} mean=${s.mean} p90=${s.p90} p99=${s.p99} max=${s.max} (${unit})`;
}

export const MiB = 2 ** 20;

/** Peak RSS of the whole process so far (getrusage ru_maxrss, KiB on Linux), in MiB. */
export function maxRssMiB(): number {
  return round((process.resourceUsage().maxRSS * 1024) / MiB, 1);
}

/** The same in MB (10^6 bytes): the unit the targets are written in, and the stricter reading of "300 MB". */
export function maxRssMB(): number {
  return round((process.resourceUsage().maxRSS * 1024) / 1e6, 1);
}

/** Samples process.memoryUsage().rss every few milliseconds while running; the peak is what it saw. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  private samples = 0;
  peakBytes = 0;

  constructor(private readonly everyMs = 10) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    return this;
  }

  /** Stops sampling; returns the peak seen, in MiB. */
  stop(): { peakMiB: number; samples: number } {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return { peakMiB: round(this.peakBytes / MiB, 1), samples: this.samples };
  }

  private sample(): void {
    this.samples++;
    this.peakBytes = Math.max(this.peakBytes, process.memoryUsage.rss());
  }
}

export function writeResults(name: string, figures: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
  return file;
}

export function verdict(ok: boolean): string {
  return ok ? 'MET' : 'MISSED';
}

/**
 * Ctrl-C would skip the scripts' finally blocks: remove this process's lab boxes (lab.ts labels each with the pid
 * that started it) before exiting, so an interrupted run leaves no containers behind. A `docker run` still in flight
 * creates its container after we exit, so a detached sweep repeats the removal a few seconds later. `tempDirs` (read
 * when the signal comes, so it may be filled in later) are deleted too, after `cleanups` (synchronous: child
 * processes the script started, a scratch database) have run.
 */
export function removeLabBoxesOnInterrupt(tempDirs: readonly string[] = [], cleanups: readonly (() => void)[] = []): void {
  const filter = `label=boxyard-lab.pid=${process.pid}`;
  const handler = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: removing this run's lab boxes...`);
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch (error) {
        console.error(`clean-up failed: ${(error as Error).message}`);
      }
    }
    const ids = spawnSync('docker', ['ps', '--all', '--quiet', '--filter', filter], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
    if (ids.length) spawnSync('docker', ['rm', '--force', ...ids], { stdio: 'ignore' });
    const sweep = `sleep 10; ids=$(docker ps --all --quiet --filter '${filter}'); [ -z "$ids" ] || docker rm --force $ids >/dev/null`;
    spawn('sh', ['-c', sweep], { detached: true, stdio: 'ignore' }).unref();
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

export interface MemorySnapshot {
  stage: string;
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

/** process.memoryUsage() in MiB, labelled; to see which stage the RSS comes from. */
export function memorySnapshot(stage: string): MemorySnapshot {
  const u = process.memoryUsage();
  const mib = (bytes: number) => round(bytes / MiB, 1);
  return {
    stage,
    rssMiB: mib(u.rss),
    heapUsedMiB: mib(u.heapUsed),
    heapTotalMiB: mib(u.heapTotal),
    externalMiB: mib(u.external),
    arrayBuffersMiB: mib(u.arrayBuffers),
  };
}

/** CPU seconds (user + system) used so far by everything in a lab box: its container's cgroup, read from outside. */
export function boxCpuSeconds(box: { name: string }): number {
  const id = execFileSync('docker', ['inspect', '-f', '{{.Id}}', box.name], { encoding: 'utf8' }).trim();
  for (const path of [`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`]) {
    try {
      const text = readFileSync(path, 'utf8');
      return path.endsWith('cpu.stat') ? Number(/usage_usec (\d+)/.exec(text)![1]) / 1e6 : Number(text.trim()) / 1e9;
    } catch {
      // try the next layout
    }
  }
  throw new Error(`cannot read the CPU usage of ${box.name}'s cgroup from this machine`);
}

// Scale-out (issue 17): N lab boxes over three dashboard processes on one PostgreSQL database, every box at the fast
// sampling interval (the processes are sent the box page's watch ping for every box, as browsers with every box page
// open would). Figures: CPU (user + sys, from /proc/PID/stat) and RSS of each process over a steady window; sampler
// streams per box, counted on the boxes (target: exactly 1 on every box); after one process is killed with SIGKILL,
// the time until each of its boxes is sampled again (target: 15 s); and the latency a forwarding process adds to a
// terminal keystroke: the same session typed to on its holder directly and through another process, alternating in
// blocks in one run (target: < 1 ms at the median). No load balancer: every request goes to a chosen process.
// Run: npx tsx bench/scale-out.ts [--boxes N (300)] [--window S (60)] [--keystrokes N per path (2000)]
//      (needs PostgreSQL: BOXYARD_TEST_PG_URL as the tests; JSON in bench/.results/scale-out.json)
import './quiet';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { rendezvousOwner } from '../server/cluster/registry';
import { createScratchPgDatabase, type ScratchPgDatabase } from '../server/db/scratch-pg';
import { apiClient, signInCookie, type Api } from '../testing/helpers/e2e/api';
import { addSharedBoxes, samplerProcesses, startDashboardProcess, type DashboardProcess } from '../testing/helpers/load-balancer';
import { freePort } from '../testing/helpers/process';
import { until } from '../testing/helpers/wait';
import { startLabBoxes, type LabBox } from '../testing/lab/lab';
import { formatSummary, machine, percentile, printMachine, removeLabBoxesOnInterrupt, round, summarize, verdict, writeResults } from './common';
import { procCpuMs, procStatusMB } from './dashboard-process';
import { BenchTerminal, machineLoad, printLoad, sleep } from './terminal-common';

const NAME = 'scale-out';
const { values: args } = parseArgs({
  options: { boxes: { type: 'string', default: '300' }, window: { type: 'string', default: '60' }, keystrokes: { type: 'string', default: '2000' } },
});
const BOX_COUNT = Number(args.boxes);
const WINDOW_S = Number(args.window);
const KEYSTROKES = Number(args.keystrokes);
const RUNNER_IDS = ['scaleout-a', 'scaleout-b', 'scaleout-c'];
/** Boxes are started this many at a time (lab.ts runs 8 `docker run`s at once inside a batch). */
const BOX_BATCH = 50;
/** The box page pings metrics.watch every 10 s (its time to live is 30 s). */
const WATCH_PING_MS = 10_000;
const FAST_INTERVAL_S = 2;
const TARGET_STREAMS_PER_BOX = 1;
const TARGET_RESAMPLE_S = 15;
const TARGET_ADDED_KEYSTROKE_MS = 1;
/** Keystrokes per attach before switching paths; each attach first types WARMUP_PER_ATTACH untimed. */
const BLOCK = 100;
const WARMUP_PER_ATTACH = 20;
const WARMUP = 300;
const CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
const PASSWORD = 'scale-out-bench-password';
const METRICS_TOKEN = 'scale-out-bench-scrape-token';
const PG_SERVER_URL = process.env.BOXYARD_TEST_PG_URL ?? 'postgresql://boxyard:boxyard@127.0.0.1:5432/postgres';

/** What limits 300 boxes here: memory, file descriptors, ephemeral ports, PostgreSQL connections. */
function printLimits(): Record<string, string | number> {
  const openFiles = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const ports = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().replace(/\s+/, '-');
  const pg = spawnSync('psql', [PG_SERVER_URL, '-Atc', "SELECT current_setting('max_connections') || ' max, ' || count(*) || ' in use' FROM pg_stat_activity"], { encoding: 'utf8' });
  const limits = {
    memAvailableMiB: memAvailableMiB(),
    openFilesSoft: openFiles?.[1] ?? '?',
    openFilesHard: openFiles?.[2] ?? '?',
    ephemeralPorts: ports,
    pidMax: readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim(),
    postgresConnections: pg.stdout.trim() || pg.stderr.trim(),
  };
  console.log(`limits: ${Object.entries(limits).map(([k, v]) => `${k} ${v}`).join('; ')}`);
  return limits;
}

function memAvailableMiB(): number {
  return Math.round(Number(/^MemAvailable:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1]) / 1024);
}

/** Sampler streams on each box, counted on the box as the cluster test counts them. */
async function streamsPerBox(boxes: LabBox[]): Promise<number[]> {
  const limit = pLimit(8);
  return Promise.all(boxes.map((box) => limit(async () => (await samplerProcesses(box)).length)));
}

function histogram(counts: number[]): Record<string, number> {
  const bins: Record<string, number> = {};
  for (const count of counts) bins[count] = (bins[count] ?? 0) + 1;
  return bins;
}

const formatHistogram = (bins: Record<string, number>) =>
  Object.entries(bins)
    .map(([streams, boxes]) => `${streams} stream${streams === '1' ? '' : 's'}: ${boxes} boxes`)
    .join(', ');

/** The boxes this process samples, from its /metrics. */
async function ownedStreams(url: string): Promise<number | null> {
  const text = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((res) => res.text(), () => '');
  const match = /^boxyard_sampler_streams\{[^}]*role="owned"[^}]*\} (\S+)$/m.exec(text);
  return match ? Number(match[1]) : null;
}

interface ProcessWindow {
  runnerId: string;
  cpuSPerMinute: number;
  cpuPctOfCore: number;
  rssMeanMB: number;
  rssMaxMB: number;
  ownedStreams: number | null;
}

/** WINDOW_S of steady sampling: each process's CPU over the window and its RSS read every second. */
async function steadyWindow(processes: DashboardProcess[]): Promise<{ wallS: number; perProcess: ProcessWindow[] }> {
  const cpu0 = processes.map((one) => procCpuMs(one.running.pid));
  const rss: number[][] = processes.map(() => []);
  const t0 = performance.now();
  while (performance.now() - t0 < WINDOW_S * 1000) {
    processes.forEach((one, i) => rss[i]!.push(procStatusMB(one.running.pid, 'VmRSS')));
    await sleep(1000);
  }
  const wallS = (performance.now() - t0) / 1000;
  const perProcess = await Promise.all(
    processes.map(async (one, i) => {
      const cpuS = (procCpuMs(one.running.pid) - cpu0[i]!) / 1000;
      const samples = rss[i]!;
      return {
        runnerId: one.runnerId,
        cpuSPerMinute: round((cpuS / wallS) * 60, 2),
        cpuPctOfCore: round((cpuS / wallS) * 100, 1),
        rssMeanMB: round(samples.reduce((a, b) => a + b, 0) / samples.length, 0),
        rssMaxMB: round(Math.max(...samples), 0),
        ownedStreams: await ownedStreams(`http://127.0.0.1:${one.port}`),
      };
    }),
  );
  return { wallS, perProcess };
}

/** Sends one character, resolves with the time until it came back (ms), or -1 if anything else came. */
async function keystroke(terminal: BenchTerminal, c: string): Promise<number> {
  const before = terminal.out.bytes;
  const arrived = terminal.out.untilBytes(before, 1, 5_000);
  const t0 = performance.now();
  terminal.type(c);
  await arrived;
  const elapsed = terminal.out.lastChunkAt - t0;
  if (terminal.out.lastChunk?.toString('latin1') !== c || terminal.out.bytes !== before + 1) {
    await terminal.out.untilQuiet(100);
    return -1;
  }
  return elapsed;
}

interface KeystrokeFigures {
  direct: ReturnType<typeof summarize> & { p95: number };
  forwarded: ReturnType<typeof summarize> & { p95: number };
  addedMedianMs: number;
  addedP95Ms: number;
  mismatches: number;
  attaches: number;
}

/**
 * One terminal session held by `holder`, typed to through a WebSocket on the holder itself and through one on
 * `forwarder` (which relays it over /api/internal/terminal), in turn: each attach replaces the other, BLOCK
 * keystrokes each, the order swapped every round.
 */
async function keystrokeLatency(holder: DashboardProcess, forwarder: DashboardProcess, boxId: string, cookie: string, origin: string): Promise<KeystrokeFigures> {
  const session = randomUUID();
  const wsOf = (one: DashboardProcess) => `ws://127.0.0.1:${one.port}`;
  let current = new BenchTerminal(wsOf(holder), boxId, { cookie, origin, session });
  await current.ready;
  current.type('stty -icanon; cat >/dev/null\r');
  await current.out.untilText('cat >/dev/null');
  await current.out.untilQuiet(300);
  let mismatches = 0;
  let attaches = 0;
  const attach = async (one: DashboardProcess) => {
    const next = new BenchTerminal(wsOf(one), boxId, { cookie, origin, session, mode: 'attach' });
    await next.ready;
    await next.out.untilQuiet(150); // the replay of the history
    current.terminate();
    current = next;
    attaches++;
    for (let i = 0; i < WARMUP_PER_ATTACH; i++) await keystroke(current, CHARS[i % CHARS.length]!);
  };
  const timed = async (count: number, into: number[] | null) => {
    for (let i = 0; i < count; i++) {
      const ms = await keystroke(current, CHARS[i % CHARS.length]!);
      if (ms < 0) mismatches++;
      else into?.push(ms);
    }
  };
  const paths = { direct: holder, forwarded: forwarder };
  const times: Record<keyof typeof paths, number[]> = { direct: [], forwarded: [] };
  // Warm both paths (JIT, the relay's connection) before timing anything.
  await timed(WARMUP, null);
  await attach(forwarder);
  await timed(WARMUP, null);
  mismatches = 0;
  const rounds = Math.ceil(KEYSTROKES / BLOCK);
  for (let round = 0; round < rounds; round++) {
    const order: (keyof typeof paths)[] = round % 2 === 0 ? ['direct', 'forwarded'] : ['forwarded', 'direct'];
    for (const name of order) {
      await attach(paths[name]);
      await timed(BLOCK, times[name]);
    }
  }
  await current.end();
  const withP95 = (samples: number[]) => ({ ...summarize(samples), p95: round(percentile([...samples].sort((a, b) => a - b), 95), 3) });
  const direct = withP95(times.direct);
  const forwarded = withP95(times.forwarded);
  return { direct, forwarded, addedMedianMs: round(forwarded.median - direct.median, 3), addedP95Ms: round(forwarded.p95 - direct.p95, 3), mismatches, attaches };
}

interface ResampleFigures {
  victim: string;
  orphanedBoxes: number;
  /** Per orphaned box: the kill to its first sample taken after it (the sample's own time), in s. */
  perBoxS: ReturnType<typeof summarize>;
  streamsAfter: Record<string, number>;
}

/** SIGKILLs `victim`, then waits until every box it sampled has a sample taken after the kill, as `survivor` serves it. */
async function killAndResample(victim: DashboardProcess, survivor: Api, boxIds: string[], boxes: LabBox[]): Promise<ResampleFigures> {
  const orphaned = boxIds.filter((id) => rendezvousOwner(id, RUNNER_IDS) === victim.runnerId);
  const killedAt = Date.now();
  victim.running.kill('SIGKILL');
  await victim.running.exited;
  const waiting = new Set(orphaned);
  await until(
    async () => {
      const latest = await Promise.all([...waiting].map((boxId) => survivor.metrics.status.query({ boxId }).then((s) => [boxId, s.latest?.at ?? 0] as const, () => [boxId, 0] as const)));
      for (const [boxId, at] of latest) if (at > killedAt) waiting.delete(boxId);
      return waiting.size === 0;
    },
    `the ${orphaned.length} boxes of ${victim.runnerId} to be sampled again`,
    { timeoutMs: 120_000, everyMs: 500, describe: async () => `${waiting.size} not sampled again yet` },
  );
  // The first sample after the kill from each box's series (the ring in memory), not when the poll saw it.
  const perBox = await Promise.all(
    orphaned.map(async (boxId) => {
      const { points } = await survivor.metrics.series.query({ boxId, from: killedAt - 30_000, to: Date.now() + 1_000 });
      const first = points.find((point) => point.at > killedAt && point.memUsedBytes !== null);
      if (!first) throw new Error(`box ${boxId}: no sample after the kill in its series`);
      return (first.at - killedAt) / 1000;
    }),
  );
  // Counted on every box: the victim's streams must be gone too. Not settling is a figure, printed as the histogram.
  await until(async () => (await streamsPerBox(boxes)).every((count) => count === 1), 'one sampler stream on each box after the kill', { timeoutMs: 60_000, everyMs: 2_000 }).catch(() => undefined);
  return { victim: victim.runnerId, orphanedBoxes: orphaned.length, perBoxS: summarize(perBox), streamsAfter: histogram(await streamsPerBox(boxes)) };
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`${NAME}: ${BOX_COUNT} lab boxes over ${RUNNER_IDS.length} dashboard processes on PostgreSQL at the ${FAST_INTERVAL_S} s fast interval`);
  printMachine(m);
  const loadBefore = machineLoad();
  printLoad('load before', loadBefore);
  const limits = printLimits();

  const dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-scaleout-'));
  const processes: DashboardProcess[] = [];
  let database: ScratchPgDatabase | undefined;
  // Ctrl-C: the processes, the database and the boxes go (lab.ts labels the boxes with this pid).
  removeLabBoxesOnInterrupt(
    [dataDir],
    [
      () => processes.forEach((one) => one.running.kill('SIGKILL')),
      () => database && spawnSync('psql', [PG_SERVER_URL, '-qc', `DROP DATABASE IF EXISTS "${new URL(database.url).pathname.slice(1)}" WITH (FORCE)`]),
    ],
  );
  const boxes: LabBox[] = [];
  let pinger: NodeJS.Timeout | undefined;
  try {
    database = await createScratchPgDatabase(PG_SERVER_URL, 'bench_scaleout');
    const memBefore = memAvailableMiB();
    const started = performance.now();
    for (let at = 0; at < BOX_COUNT; at += BOX_BATCH) {
      boxes.push(...(await startLabBoxes(Math.min(BOX_BATCH, BOX_COUNT - at), { namePrefix: 'bench-scaleout' })));
      console.log(`  ${boxes.length} lab boxes up after ${round((performance.now() - started) / 1000, 0)} s; MemAvailable ${memAvailableMiB()} MiB; loadavg ${os.loadavg()[0]!.toFixed(1)}`);
    }
    const boxStartS = round((performance.now() - started) / 1000, 0);
    const memAfterBoxes = memAvailableMiB();
    // Only a hint of the boxes' memory: other engineers' work on the machine moves MemAvailable too.
    console.log(`${BOX_COUNT} lab boxes up in ${boxStartS} s; MemAvailable ${memBefore} MiB before, ${memAfterBoxes} MiB after`);

    const ports = await Promise.all(RUNNER_IDS.map(() => freePort()));
    const origin = `http://127.0.0.1:${ports[0]}`;
    const env = {
      DATABASE_URL: database.url,
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_SECRET_KEY: randomBytes(32).toString('base64'),
      BOXYARD_ADMIN_PASSWORD: PASSWORD,
      BOXYARD_URL: origin,
      BOXYARD_METRICS_TOKEN: METRICS_TOKEN,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    };
    const boxIds = await addSharedBoxes(env, boxes, 'scale');

    const processesStarted = performance.now();
    processes.push(...(await Promise.all(RUNNER_IDS.map((id, i) => startDashboardProcess(id, env, ports[i])))));
    const cookie = await signInCookie(origin, { email: 'admin@boxyard.local', password: PASSWORD });
    const apis = processes.map((one) => apiClient(`http://127.0.0.1:${one.port}`, cookie, origin));
    // Every box page open: the watch ping for every box every 10 s, each round to the next live process in turn.
    let pingRound = 0;
    const live = new Set(processes.map((_, i) => i));
    const ping = () => {
      const api = apis[[...live][pingRound++ % live.size]!]!;
      void Promise.allSettled(boxIds.map((boxId) => api.metrics.watch.mutate({ boxId })));
    };
    ping();
    pinger = setInterval(ping, WATCH_PING_MS);

    const readyTimeoutMs = 120_000 + BOX_COUNT * 1_000;
    await until(async () => (await streamsPerBox(boxes)).every((count) => count === 1), 'one sampler stream on each box', {
      timeoutMs: readyTimeoutMs,
      everyMs: 5_000,
      describe: async () => formatHistogram(histogram(await streamsPerBox(boxes))),
    }).catch((error: unknown) => console.log(`  not settled: ${(error as Error).message}`));
    // And every box at the fast interval, as process a serves it (its own streams and those it follows).
    const fastBoxes = async () =>
      (await Promise.all(boxIds.map((boxId) => apis[0]!.metrics.status.query({ boxId }).then((s) => s.stream?.intervalS === FAST_INTERVAL_S && s.latest !== null, () => false)))).filter(Boolean).length;
    await until(async () => (await fastBoxes()) === BOX_COUNT, `all ${BOX_COUNT} boxes sampled at ${FAST_INTERVAL_S} s`, {
      timeoutMs: readyTimeoutMs,
      everyMs: 2_000,
      describe: async () => `${await fastBoxes()} of ${BOX_COUNT}`,
    }).catch((error: unknown) => console.log(`  not settled: ${(error as Error).message}`));
    const settledS = round((performance.now() - processesStarted) / 1000, 0);
    console.log(`three processes started and settled after ${settledS} s`);

    // Steady window, then the streams on the boxes.
    const loadWindowStart = os.loadavg().map((l) => round(l, 2));
    const window = await steadyWindow(processes);
    const fastAfterWindow = await fastBoxes();
    const streamCounts = await streamsPerBox(boxes);
    const streams = histogram(streamCounts);
    const exactlyOne = streamCounts.every((count) => count === TARGET_STREAMS_PER_BOX);
    console.log(`\nsteady window: ${round(window.wallS, 0)} s, loadavg at its start ${loadWindowStart.join(' ')}, at its end ${os.loadavg().map((l) => round(l, 2)).join(' ')}; boxes at ${FAST_INTERVAL_S} s: ${fastAfterWindow} of ${BOX_COUNT}`);
    for (const one of window.perProcess) {
      console.log(`  ${one.runnerId}: CPU ${one.cpuSPerMinute} s per minute (${one.cpuPctOfCore}% of a core), RSS mean ${one.rssMeanMB} MB, max ${one.rssMaxMB} MB; samples ${one.ownedStreams} boxes`);
    }
    const totalCpu = round(window.perProcess.reduce((sum, one) => sum + one.cpuSPerMinute, 0), 2);
    console.log(`  all three: ${totalCpu} CPU s per minute for ${BOX_COUNT} boxes = ${round((totalCpu / BOX_COUNT) * 1000, 1)} ms per box per minute`);
    console.log(`sampler streams per box, counted on the boxes: ${formatHistogram(streams)}   (target exactly ${TARGET_STREAMS_PER_BOX} on every box: ${verdict(exactlyOne)})`);

    // Keystrokes while all three run: b holds the session, c forwards to it.
    const keys = await keystrokeLatency(processes[1]!, processes[2]!, boxIds[0]!, cookie, origin);
    console.log(`\nterminal keystroke echo (ms), ${keys.direct.n} direct and ${keys.forwarded.n} forwarded, alternating in blocks of ${BLOCK} (${keys.attaches} attaches):`);
    console.log(`  direct to the holder (the baseline): ${formatSummary(keys.direct)} p95=${keys.direct.p95}`);
    console.log(`  through another process (forwarded): ${formatSummary(keys.forwarded)} p95=${keys.forwarded.p95}`);
    console.log(`  added by forwarding: median ${keys.addedMedianMs} ms, p95 ${keys.addedP95Ms} ms   (target < ${TARGET_ADDED_KEYSTROKE_MS} ms at the median: ${verdict(keys.addedMedianMs < TARGET_ADDED_KEYSTROKE_MS)}); keystrokes not echoed alone: ${keys.mismatches}`);

    // The kill: a's boxes, as b serves them.
    live.delete(0);
    const resample = await killAndResample(processes[0]!, apis[1]!, boxIds, boxes);
    console.log(`\nSIGKILL of ${resample.victim}: its ${resample.orphanedBoxes} boxes sampled again after (s, per box): ${formatSummary(resample.perBoxS, 's')}`);
    console.log(`  target ${TARGET_RESAMPLE_S} s for every box: ${verdict(resample.perBoxS.max <= TARGET_RESAMPLE_S)}; streams per box afterwards: ${formatHistogram(resample.streamsAfter)}`);
    const loadAfter = machineLoad();
    printLoad('load after', loadAfter);

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      limits,
      load: { before: loadBefore, windowStart: loadWindowStart, after: loadAfter },
      boxes: BOX_COUNT,
      boxStartS,
      memAvailableMiB: { beforeBoxes: memBefore, afterBoxes: memAfterBoxes },
      settledS,
      window: { ...window, totalCpuSPerMinute: totalCpu, fastBoxes: fastAfterWindow },
      streamsPerBox: streams,
      keystrokes: keys,
      resample,
      targets: {
        streamsPerBox: { target: TARGET_STREAMS_PER_BOX, met: exactlyOne },
        resampleS: { target: TARGET_RESAMPLE_S, met: resample.perBoxS.max <= TARGET_RESAMPLE_S },
        addedKeystrokeMs: { target: TARGET_ADDED_KEYSTROKE_MS, met: keys.addedMedianMs < TARGET_ADDED_KEYSTROKE_MS },
      },
    });
    console.log(`\nfigures written to ${file}`);
  } finally {
    clearInterval(pinger);
    for (const one of processes) one.running.kill('SIGKILL');
    await Promise.all(processes.map((one) => one.running.exited));
    await database?.drop().catch((error: unknown) => console.error(`bench: could not drop the scratch database: ${(error as Error).message}`));
    const limit = pLimit(8);
    await Promise.all(boxes.map((box) => limit(() => box.remove().catch((error: unknown) => console.error(`bench: could not remove ${box.name}: ${(error as Error).message}`)))));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

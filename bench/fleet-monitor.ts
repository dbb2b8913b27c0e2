// Fleet monitoring cost IN THE DASHBOARD: the whole backend in-process (like fleet-facts.ts) samples N lab boxes at
// the fast interval (every box watched, 2 s): this process's CPU share and RSS while it does, and the event loop.
// Then the dashboard as production runs it, a process of its own with Next, on the same database and boxes at the
// stored (default) intervals: its RSS, the compiled server (.next-server/main.mjs) against tsx (server/main.ts).
// Run: npx tsx --expose-gc bench/fleet-monitor.ts [boxes, default 100] [seconds, default 60]   (needs `npx next build`)
import './quiet';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { startLabBoxes, type LabBox } from '../testing/lab/lab';
import { startMetricsBackend, testMetrics } from '../testing/helpers/metrics';
import { until } from '../testing/helpers/wait';
import { machine, MiB, printMachine, removeLabBoxesOnInterrupt, round, RssSampler, verdict, writeResults } from './common';
import { prepareDashboardBuilds, SERVER_KINDS, startDashboardProcess, type ServerKind } from './dashboard-process';

const NAME = 'fleet-monitor';
const BOX_COUNT = Number(process.argv[2] ?? 100);
const SECONDS = Number(process.argv[3] ?? 60);
const FAST_S = 2;
const TARGET_CPU_PCT = 20;
/** MB = 10^6 bytes. */
const TARGET_RSS_MB = 400;
/** The whole dashboard process (Next included) monitoring the boxes; MB = 10^6 bytes. */
const TARGET_PROCESS_RSS_MB = 200;
/** Scrape token of the dashboard processes: their /metrics says which boxes stream. */
const METRICS_TOKEN = 'fleet-monitor-bench-token';

interface ProcessFigures {
  startToHealthyMs: number;
  /** From healthy until /metrics has every box up. */
  allUpMs: number;
  rssMB: number;
  peakWhileMonitoringMB: number;
  peakSinceStartMB: number;
}

/**
 * A dashboard process on the backend's data folder, until every box streams, then SECONDS of monitoring with its RSS
 * read every 500 ms.
 */
async function measureDashboardProcess(kind: ServerKind, dataDir: string, boxCount: number): Promise<ProcessFigures> {
  const dashboard = await startDashboardProcess(kind, dataDir, { BOXYARD_METRICS_TOKEN: METRICS_TOKEN });
  try {
    const healthy = performance.now();
    await until(
      async () => {
        const res = await fetch(`${dashboard.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        const up = (await res.text()).split('\n').filter((line) => line.startsWith('boxyard_box_up{') && line.endsWith(' 1')).length;
        return up === boxCount;
      },
      `all ${boxCount} boxes up in the ${kind} dashboard`,
      { timeoutMs: 180_000, everyMs: 500 },
    );
    const allUpMs = performance.now() - healthy;
    let peak = 0;
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) {
      peak = Math.max(peak, dashboard.rssMB());
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    return { startToHealthyMs: dashboard.startToHealthyMs, allUpMs, rssMB: dashboard.rssMB(), peakWhileMonitoringMB: Math.max(peak, dashboard.rssMB()), peakSinceStartMB: dashboard.peakRssMB() };
  } finally {
    await dashboard.stop();
  }
}

async function main() {
  const m = machine();
  printMachine(m);
  removeLabBoxesOnInterrupt();
  prepareDashboardBuilds();
  const started = performance.now();
  const labBoxes: LabBox[] = await startLabBoxes(BOX_COUNT, { namePrefix: 'bench-fleetmon' });
  console.log(`${labBoxes.length} lab boxes up in ${round((performance.now() - started) / 1000, 1)} s`);
  const backend = await startMetricsBackend();
  try {
    const limit = pLimit(8);
    await Promise.all(labBoxes.map((box) => limit(() => box.authorize(backend.services.dashboardPublicKey))));
    const ids: string[] = [];
    for (const [i, box] of labBoxes.entries()) ids.push((await backend.addBox(`box-${i}`, box)).id);

    const metrics = testMetrics(backend, {
      tickMs: 5_000,
      rollupMs: 60_000,
      settingsOverride: { slowIntervalS: FAST_S, fastIntervalS: FAST_S, idleWindowS: 900 },
      sampler: { backoffInitialMs: 2_000, backoffMaxMs: 60_000, reconcileMs: 15_000 },
    });
    const connectStart = performance.now();
    const connectCpu0 = process.cpuUsage();
    await metrics.start({ only: ids });
    for (const id of ids) metrics.sampler.watch(id, 3600_000);
    await until(() => ids.every((id) => metrics.sampler.recent(id).some((e) => !e.gap && e.cpuPct !== null)), `measured samples from all ${ids.length} boxes`, { timeoutMs: 180_000, everyMs: 500 });
    const connectCpu = process.cpuUsage(connectCpu0);
    const compiledCount = ids.filter((id) => metrics.sampler.streamView(id)?.header?.implementation === 'c').length;
    console.log(
      `all ${ids.length} boxes streaming after ${round((performance.now() - connectStart) / 1000, 1)} s, ${compiledCount} of them on the compiled sampler ` +
        `(uploaded on first contact); start-up took ${round((connectCpu.user + connectCpu.system) / 1e6, 2)} CPU s in this process`,
    );

    (globalThis as { gc?: () => void }).gc?.();
    const counts0 = ids.map((id) => metrics.sampler.recent(id).length);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const rss = new RssSampler(500).start();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const rssPeak = rss.stop();
    loop.disable();
    const samples = ids.reduce((sum, id, i) => sum + metrics.sampler.recent(id).length - counts0[i]!, 0);
    const gaps = ids.reduce((sum, id) => sum + metrics.sampler.recent(id).filter((e) => e.gap).length, 0);
    const cpuPct = ((cpu.user + cpu.system) / 1e6 / wallS) * 100;
    const rssMB = process.memoryUsage().rss / 1e6;
    const peakMB = (rssPeak.peakMiB * MiB) / 1e6;

    await metrics.rollup(); // one rollup round for all boxes, timed
    const rollupStart = performance.now();
    await metrics.rollup();
    const rollupMs = performance.now() - rollupStart;
    await metrics.stop();

    console.log('');
    console.log(`${ids.length} boxes at ${FAST_S} s for ${round(wallS, 1)} s: ${samples} samples (${round(samples / wallS, 1)}/s; expected ${round(ids.length / FAST_S, 1)}/s), ${gaps} gaps`);
    console.log(`  dashboard CPU: ${round(cpuPct, 2)}% of one core   (target < ${TARGET_CPU_PCT}%: ${verdict(cpuPct < TARGET_CPU_PCT)})`);
    console.log(`  RSS: ${round(rssMB, 0)} MB now, ${round(peakMB, 0)} MB peak while sampling   (target < ${TARGET_RSS_MB} MB: ${verdict(peakMB < TARGET_RSS_MB)})`);
    console.log(`  event loop delay: p50 ${round(loop.percentile(50) / 1e6, 1)} ms, p99 ${round(loop.percentile(99) / 1e6, 1)} ms, max ${round(loop.max / 1e6, 1)} ms`);
    console.log(`  a rollup round (1-minute points for every box): ${round(rollupMs, 0)} ms`);
    console.log(`  per box: ${round(cpuPct / ids.length, 3)}% of a core -> 1,000 boxes at ${FAST_S} s ≈ ${round((cpuPct / ids.length) * 1000, 0)}% (linear; at the 30 s slow interval ≈ ${round(((cpuPct / ids.length) * 1000 * FAST_S) / 30, 0)}%)`);

    // The in-process backend stays up (its database is the processes' too) but samples nothing from here on.
    const processes = {} as Record<ServerKind, ProcessFigures>;
    for (const kind of SERVER_KINDS) {
      const f = (processes[kind] = await measureDashboardProcess(kind, backend.services.env.dataDir, ids.length));
      console.log('');
      console.log(`dashboard process, ${kind} server, ${ids.length} boxes at the stored intervals for ${SECONDS} s:`);
      console.log(`  start to healthy ${round(f.startToHealthyMs, 0)} ms, then all boxes up after ${round(f.allUpMs / 1000, 1)} s`);
      console.log(`  RSS: ${round(f.rssMB, 0)} MB at the end, ${round(f.peakWhileMonitoringMB, 0)} MB peak while monitoring, ${round(f.peakSinceStartMB, 0)} MB peak since its start   (target < ${TARGET_PROCESS_RSS_MB} MB: ${verdict(f.peakWhileMonitoringMB < TARGET_PROCESS_RSS_MB)})`);
    }
    writeResults(NAME, { machine: m, boxes: ids.length, seconds: wallS, samples, gaps, cpuPct, rssMB, peakMB, eventLoop: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6 }, rollupMs, processes });
  } finally {
    await backend.stop();
    await Promise.all(labBoxes.map((box) => box.remove().catch(() => undefined)));
  }
}

await main();

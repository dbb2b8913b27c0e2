// Fleet monitoring cost IN THE DASHBOARD: the whole backend in-process (like fleet-facts.ts) samples N lab boxes at
// the fast interval (every box watched, 2 s): this process's CPU share and RSS while it does, and the event loop.
// Run: npx tsx --expose-gc bench/fleet-monitor.ts [boxes, default 100] [seconds, default 60]
import './quiet';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { startLabBoxes, type LabBox } from '../testing/lab/lab';
import { startMetricsBackend, testMetrics } from '../testing/helpers/metrics';
import { until } from '../testing/helpers/wait';
import { machine, MiB, printMachine, removeLabBoxesOnInterrupt, round, RssSampler, verdict, writeResults } from './common';

const NAME = 'fleet-monitor';
const BOX_COUNT = Number(process.argv[2] ?? 100);
const SECONDS = Number(process.argv[3] ?? 60);
const FAST_S = 2;
const TARGET_CPU_PCT = 20;
/** MB = 10^6 bytes. */
const TARGET_RSS_MB = 400;

async function main() {
  const m = machine();
  printMachine(m);
  removeLabBoxesOnInterrupt();
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
    writeResults(NAME, { machine: m, boxes: ids.length, seconds: wallS, samples, gaps, cpuPct, rssMB, peakMB, eventLoop: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6 }, rollupMs });
  } finally {
    await backend.stop();
    await Promise.all(labBoxes.map((box) => box.remove().catch(() => undefined)));
  }
}

await main();

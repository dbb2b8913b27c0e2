// Monitor cost ON THE BOX: CPU seconds a lab box spends per hour being monitored by the sampler (one long-lived
// process over the pooled SSH connection: the compiled sampler, and the bash one it falls back to) against the naive
// way (a new SSH exec per sample on the same pooled connection: sshd forks a session, the login shell runs cat and
// df), and against a new SSH connection per sample (what `ssh box cat /proc/...` from a cron job does).
// Run: npx tsx bench/monitor-cost.ts [seconds per phase, default 60] [slow-interval check seconds, default 150]
//
// How it is counted: the CPU time of EVERYTHING in the box (sshd's listener and session processes, the sampler's
// bash, the naive commands) is the box container's cpuacct.usage, read from OUTSIDE the box (this machine's cgroup
// v1 tree), so the measuring adds nothing to it. Each phase subtracts the box's own baseline (no monitoring at all)
// measured just before. Per-sample cost is measured at a 1 s interval (many samples, little noise), then scaled to
// the default slow interval (30 s = 120 samples/hour); a direct run at 30 s checks the scaling.
import './quiet';
import ssh2 from 'ssh2';
import { performance } from 'node:perf_hooks';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { startMetricsBackend, testMetrics } from '../testing/helpers/metrics';
import { until } from '../testing/helpers/wait';
import { sh } from '../server/ssh/quote';
import { boxCpuSeconds, machine, printMachine, removeLabBoxesOnInterrupt, round, verdict, writeResults } from './common';

const NAME = 'monitor-cost';
const PHASE_S = Number(process.argv[2] ?? 60);
const SLOW_CHECK_S = Number(process.argv[3] ?? 150);
const SLOW_INTERVAL_S = 30;
const SAMPLES_PER_HOUR = 3600 / SLOW_INTERVAL_S;
const ONE_CORE_HOUR_S = 3600;
/** The naive per-sample command: what a simple poller runs over SSH each time. */
const NAIVE = sh`cat /proc/stat /proc/meminfo /proc/loadavg /proc/net/dev /proc/uptime >/dev/null; df -kP / >/dev/null; ls /proc >/dev/null`;

async function measure(box: LabBox, seconds: number, during: () => Promise<number>): Promise<{ cpuS: number; samples: number; wallS: number }> {
  const cpu0 = boxCpuSeconds(box);
  const t0 = performance.now();
  const samples = await during();
  const wallS = (performance.now() - t0) / 1000;
  return { cpuS: boxCpuSeconds(box) - cpu0, samples, wallS };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const m = machine();
  printMachine(m);
  removeLabBoxesOnInterrupt();
  const box = await startLabBox({ namePrefix: 'bench-monitor' });
  const backend = await startMetricsBackend();
  try {
    await box.authorize(backend.services.dashboardPublicKey);
    const { id: boxId } = await backend.addBox('monitored', box);
    const { pool, remote } = backend.services;
    const target = remote.target(await backend.services.db.box.findUniqueOrThrow({ where: { id: boxId } }));
    await pool.connect(boxId, target); // the connection exists in both ways; only per-sample work is compared

    const baseline = await measure(box, PHASE_S, async () => (await pause(PHASE_S * 1000), 0));
    const baseRate = baseline.cpuS / baseline.wallS;
    console.log(`baseline (connected, nothing sampled): ${round(baseline.cpuS, 3)} CPU s in ${round(baseline.wallS, 1)} s`);

    // Each sampler at 1 s: the compiled one (the default where a build exists), then the bash one.
    const measureSampler = async (implementation: 'c' | 'bash') => {
      const run = testMetrics(backend, { settingsOverride: { slowIntervalS: 1, fastIntervalS: 1 }, sampler: implementation === 'bash' ? { compiled: [] } : {} });
      await run.start({ only: [boxId] });
      await until(() => run.sampler.recent(boxId).length >= 2, 'the sampler running');
      const header = run.sampler.streamView(boxId)?.header;
      if (header?.implementation !== implementation) throw new Error(`expected the ${implementation} sampler, the box runs ${header?.implementation}: ${run.sampler.streamView(boxId)?.compiledNote}`);
      const before = run.sampler.recent(boxId).length;
      const measured = await measure(box, PHASE_S, async () => {
        await pause(PHASE_S * 1000);
        return run.sampler.recent(boxId).length - before;
      });
      await run.stop();
      const perSample = (measured.cpuS - baseRate * measured.wallS) / measured.samples;
      console.log(`${implementation} sampler at 1 s: ${measured.samples} samples, ${round(measured.cpuS, 3)} CPU s -> ${round(perSample * 1000, 3)} ms CPU per sample (baseline removed)`);
      return { ...measured, perSample };
    };
    const bashSampler = await measureSampler('bash');
    const sampler = await measureSampler('c');
    const samplerPerSample = sampler.perSample;
    const metrics = testMetrics(backend, { settingsOverride: { slowIntervalS: 1, fastIntervalS: 1 } });
    await metrics.start({ only: [boxId] });
    await until(() => metrics.sampler.recent(boxId).length >= 1, 'the sampler running');

    // Slow-interval check: the sampler at the default 30 s, measured directly.
    await metrics.reloadSettings();
    metrics.settings = { ...metrics.settings, slowIntervalS: SLOW_INTERVAL_S, fastIntervalS: SLOW_INTERVAL_S };
    metrics.sampler.tick();
    const slowBefore = metrics.sampler.recent(boxId).length;
    const slow = await measure(box, SLOW_CHECK_S, async () => {
      await pause(SLOW_CHECK_S * 1000);
      return metrics.sampler.recent(boxId).length - slowBefore;
    });
    const slowPerHour = ((slow.cpuS - baseRate * slow.wallS) / slow.wallS) * 3600;
    await metrics.stop();

    // Naive: one exec per sample at 1 s on the same pooled connection.
    let naiveSamples = 0;
    const naive = await measure(box, PHASE_S, async () => {
      const end = performance.now() + PHASE_S * 1000;
      while (performance.now() < end) {
        const started = performance.now();
        await pool.exec(boxId, target, NAIVE, { timeoutMs: 20_000 });
        naiveSamples++;
        await pause(Math.max(0, 1000 - (performance.now() - started)));
      }
      return naiveSamples;
    });
    const naivePerSample = (naive.cpuS - baseRate * naive.wallS) / naive.samples;
    console.log(`naive exec at 1 s: ${naive.samples} samples, ${round(naive.cpuS, 3)} CPU s -> ${round(naivePerSample * 1000, 3)} ms CPU per sample`);

    // Naive, the ssh-in-a-cron way: a new SSH connection (key exchange, login, session) per sample.
    const auth = target.auth;
    if (auth.kind !== 'key') throw new Error('the bench box signs in with the dashboard key');
    const connectExec = () =>
      new Promise<void>((resolve, reject) => {
        const client = new ssh2.Client();
        client
          .once('ready', () =>
            client.exec(NAIVE.text, (error, channel) => {
              if (error) return reject(error);
              channel.on('data', () => undefined).once('close', () => (client.end(), resolve()));
            }),
          )
          .once('error', reject)
          .connect({ host: box.host, port: box.port, username: 'dev', privateKey: auth.privateKey });
      });
    let connectSamples = 0;
    const naiveConnect = await measure(box, PHASE_S, async () => {
      const end = performance.now() + PHASE_S * 1000;
      while (performance.now() < end) {
        const started = performance.now();
        await connectExec();
        connectSamples++;
        await pause(Math.max(0, 1000 - (performance.now() - started)));
      }
      return connectSamples;
    });
    const connectPerSample = (naiveConnect.cpuS - baseRate * naiveConnect.wallS) / naiveConnect.samples;
    console.log(`naive new connection at 1 s: ${naiveConnect.samples} samples, ${round(naiveConnect.cpuS, 3)} CPU s -> ${round(connectPerSample * 1000, 3)} ms CPU per sample`);

    const samplerHour = samplerPerSample * SAMPLES_PER_HOUR;
    const naiveHour = naivePerSample * SAMPLES_PER_HOUR;
    const samplerShare = (samplerHour / ONE_CORE_HOUR_S) * 100;
    const ratio = naivePerSample / samplerPerSample;
    console.log('');
    console.log(`per hour at the default ${SLOW_INTERVAL_S} s interval (${SAMPLES_PER_HOUR} samples):`);
    console.log(`  sampler: ${round(samplerHour, 3)} CPU s/hour = ${round(samplerShare, 4)}% of one core   (target < 0.1%: ${verdict(samplerShare < 0.1)})`);
    console.log(`  naive:   ${round(naiveHour, 3)} CPU s/hour = ${round((naiveHour / ONE_CORE_HOUR_S) * 100, 4)}% of one core`);
    console.log(`  naive / sampler: ${round(ratio, 1)}x   (target >= 10x: ${verdict(ratio >= 10)})`);
    console.log(`  bash sampler (fallback): ${round(bashSampler.perSample * 1000, 3)} ms per sample, naive / bash sampler ${round(naivePerSample / bashSampler.perSample, 1)}x`);
    console.log(`  naive with a new SSH connection per sample: ${round(connectPerSample * SAMPLES_PER_HOUR, 3)} CPU s/hour, ${round(connectPerSample / samplerPerSample, 1)}x the sampler   (target >= 10x: ${verdict(connectPerSample / samplerPerSample >= 10)})`);
    const noisePerHour = (baseline.cpuS / baseline.wallS) * 3600;
    console.log(
      `  direct check at ${SLOW_INTERVAL_S} s for ${round(slow.wallS, 0)} s (${slow.samples} samples): ` +
        (slowPerHour > 0 ? `${round(slowPerHour, 3)} CPU s/hour extrapolated` : `below the measurement noise (the idle box's own ${round(noisePerHour, 2)} CPU s/hour)`),
    );
    console.log('  Both ways exclude the SSH connection itself (kept open by the pool either way: keepalives every 15 s).');
    writeResults(NAME, {
      machine: m,
      phaseSeconds: PHASE_S,
      baselineCpuS: baseline.cpuS,
      bashSampler: { ...bashSampler, perSampleMs: bashSampler.perSample * 1000 },
      sampler: { ...sampler, perSampleMs: samplerPerSample * 1000, perHourS: samplerHour, coreSharePct: samplerShare },
      naive: { ...naive, perSampleMs: naivePerSample * 1000, perHourS: naiveHour },
      ratio,
      naiveConnect: { ...naiveConnect, perSampleMs: connectPerSample * 1000, ratio: connectPerSample / samplerPerSample },
      slowCheck: { ...slow, perHourS: slowPerHour },
    });
  } finally {
    await backend.stop();
    await box.remove();
  }
}

await main();

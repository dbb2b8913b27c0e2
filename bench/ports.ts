// Listening ports (server/metrics/ports.ts), two figures on one lab box, compared in the same run:
// 1. Detection latency: a server starts on the box; how long until the dashboard has the sampler's P line with it, and
//    until the PortsTracker has it with what listens (after the one owners command), against the sampler interval
//    (target: within two). Measured from just before the `docker exec` that starts the server (~0.1-0.3 s of it), so
//    both are upper bounds.
// 2. The compiled sampler's CPU per sample with and without ports reporting: this checkout's build against the same
//    source without it (the last commit before the P line, built here the way scripts/build-sampler.sh does), each
//    run inside the box at a 0.1 s interval, read as the box's own children CPU time (user + system: reading
//    /proc/net/tcp is kernel time), alternating, several rounds (target: < 10% more).
// Run: npx tsx bench/ports.ts [detections, default 10] [seconds per CPU run, default 20] [rounds, default 3]
import './quiet';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startMetricsBackend, testMetrics } from '../testing/helpers/metrics';
import { until } from '../testing/helpers/wait';
import { startLabBox } from '../testing/lab/lab';
import { formatSummary, machine, printMachine, removeLabBoxesOnInterrupt, round, summarize, verdict, writeResults } from './common';

const NAME = 'ports';
const DETECTIONS = Number(process.argv[2] ?? 10);
const CPU_RUN_S = Number(process.argv[3] ?? 20);
const ROUNDS = Number(process.argv[4] ?? 3);
const CPU_INTERVAL_S = 0.1;
/** The sampler source just before ports reporting (git history of this checkout). */
const BEFORE_PORTS = 'd6dd77a~1';
const SOURCE = 'server/metrics/sampler-c/boxyard-sampler.c';
const WITH_PORTS = 'server/metrics/sampler-c/dist/boxyard-sampler-x86_64';

/** The sampler without ports reporting, compiled with build-sampler.sh's flags. */
function buildWithoutPorts(dir: string): string {
  const source = path.join(dir, 'boxyard-sampler.c');
  writeFileSync(source, execFileSync('git', ['show', `${BEFORE_PORTS}:${SOURCE}`]));
  const binary = path.join(dir, 'boxyard-sampler-without-ports');
  execFileSync('cc', ['-Os', '-static', '-s', '-Wall', '-Wextra', '-Werror', '-o', binary, source]);
  return binary;
}

async function main() {
  const m = machine();
  printMachine(m);
  const temp = mkdtempSync(path.join(tmpdir(), 'boxyard-bench-ports-'));
  removeLabBoxesOnInterrupt([temp]);
  const box = await startLabBox({ namePrefix: 'bench-ports' });
  const backend = await startMetricsBackend();
  try {
    await box.authorize(backend.services.dashboardPublicKey);
    const { id: boxId } = await backend.addBox('bench-ports', box);

    // 1. Detection latency at testMetrics' 1 s interval.
    const metrics = testMetrics(backend);
    await metrics.start({ only: [boxId] });
    const intervalMs = metrics.sampler.intervalFor(boxId) * 1000;
    await until(() => metrics.ports.get(boxId).ports, 'the first report', 30_000);
    const latencies: number[] = [];
    const reported: number[] = [];
    for (let i = 0; i < DETECTIONS; i++) {
      const port = 7600 + i;
      const started = performance.now();
      const startedAt = metrics.clock.now();
      await box.root(`su dev -c 'setsid perl -MIO::Socket::INET -e "\\$s=IO::Socket::INET->new(LocalAddr=>q(0.0.0.0:${port}),Listen=>4) or die; sleep 1 while 1" >/dev/null 2>&1 </dev/null &'`);
      await until(() => metrics.ports.get(boxId).ports?.find((p) => p.port === port && p.owner.kind === 'process'), `port ${port}`, { timeoutMs: 30_000, everyMs: 10 });
      latencies.push(performance.now() - started);
      reported.push(metrics.ports.get(boxId).since! - startedAt);
      await box.root(`pkill -u dev -f 'LocalAddr=>q\\(0.0.0.0:${port}\\)'`);
      await until(() => !metrics.ports.get(boxId).ports?.some((p) => p.port === port), `port ${port} gone`, 30_000);
    }
    await metrics.stop();
    const detection = summarize(latencies);
    const pLine = summarize(reported);
    console.log(`a new listening port, interval ${intervalMs} ms: the P line in ${formatSummary(pLine)}`);
    console.log(`  ... and with what listens in ${formatSummary(detection)}`);
    console.log(`  target: max within two intervals (${2 * intervalMs} ms): ${verdict(detection.max <= 2 * intervalMs)}`);

    // 2. CPU per sample, with and without ports reporting, alternating in the same box.
    const binaries = { without: buildWithoutPorts(temp), with: path.resolve(WITH_PORTS) };
    for (const [variant, file] of Object.entries(binaries)) execFileSync('docker', ['cp', file, `${box.name}:/tmp/sampler-${variant}`]);
    const cpuMs: Record<keyof typeof binaries, number[]> = { without: [], with: [] };
    const samplesPerRun = Math.floor(CPU_RUN_S / CPU_INTERVAL_S);
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      for (const variant of Object.keys(binaries) as (keyof typeof binaries)[]) {
        // bash's `times`: the CPU (user, system) of its finished children; the sleep that holds stdin open costs ~0.
        const ran = await box.root(`su dev -c 'sleep ${CPU_RUN_S} | /tmp/sampler-${variant} ${CPU_INTERVAL_S} 300 >/dev/null; times' | tail -1`);
        const [user, system] = ran.stdout.trim().split(/\s+/).map((t) => {
          const [, min, sec] = /^(\d+)m([\d.]+)s$/.exec(t)!;
          return Number(min) * 60 + Number(sec);
        });
        const perSampleMs = ((user! + system!) * 1000) / samplesPerRun;
        cpuMs[variant].push(perSampleMs);
        console.log(`  round ${round_ + 1} ${variant} ports: ${round(perSampleMs, 4)} ms CPU per sample (user ${user} s, system ${system} s over ${samplesPerRun} samples)`);
      }
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const extraPct = (mean(cpuMs.with) / mean(cpuMs.without) - 1) * 100;
    console.log(`compiled sampler CPU per sample: without ports ${round(mean(cpuMs.without), 4)} ms, with ports ${round(mean(cpuMs.with), 4)} ms: ${round(extraPct, 1)}% more`);
    console.log(`  target: < 10% more: ${verdict(extraPct < 10)}`);
    const listening = (await box.root('wc -l < /proc/net/tcp; wc -l < /proc/net/tcp6')).stdout.trim().split('\n');
    console.log(`  (the box's /proc/net/tcp has ${listening[0]} lines, tcp6 ${listening[1]}; the kernel's socket hash tables are the host's, shared by every network namespace)`);
    console.log(`results: ${writeResults(NAME, { machine: m, intervalMs, pLineMs: pLine, detectionMs: detection, cpuPerSampleMs: cpuMs, extraPct: round(extraPct, 1) })}`);
  } finally {
    await backend.stop();
    await box.remove();
    rmSync(temp, { recursive: true, force: true });
  }
}

await main();

// Fleet facts: the whole backend in-process gathers facts from 50 real lab boxes at once, cold then warm.
// Run: npx tsx bench/fleet-facts.ts [boxCount]   (default 50; figures also go to bench/.results/fleet-facts.json)
import './quiet';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { startLabBoxes, type LabBox } from '../testing/lab/lab';
import { createBoxInput } from '../lib/validation';
import type { SessionUser } from '../server/boxes/access';
import { createBox, type BoxView } from '../server/boxes/boxes';
import { factsCommand, type BoxFacts } from '../server/boxes/facts';
import { loadEnv } from '../server/env';
import { startServices, stopServices, type Services } from '../server/services';
import { SshPool } from '../server/ssh/pool';
import {
  formatSummary,
  machine,
  maxRssMB,
  maxRssMiB,
  memorySnapshot,
  type MemorySnapshot,
  printMachine,
  removeLabBoxesOnInterrupt,
  round,
  RssSampler,
  summarize,
  verdict,
  writeResults,
  type Summary,
} from './common';

const NAME = 'fleet-facts';
const BOX_COUNT = Number(process.argv[2] ?? 50);
const TARGET_WALL_MS = 5_000;
/** MB = 10^6 bytes (300 MB = 286 MiB). */
const TARGET_RSS_MB = 300;
const TARGET_CONNECTIONS_PER_BOX = 1;
// docker exec calls at once when preparing/inspecting boxes (2 cores: more only queues in dockerd).
const DOCKER_CONCURRENCY = 8;

interface RunFigures {
  wallMs: number;
  perBoxMs: Summary;
  failures: number;
  errors: string[];
  /** CPU time of this process (user + system) during the run; the boxes' sshd and commands share the same cores. */
  processCpuMs: number;
  /** How late timers fired during the run: what a page request arriving then would also have waited. */
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  rssSampledPeakMiB: number;
  rssSamples: number;
  maxRssAfterMiB: number;
}

/** Runs `task` on every item at once and measures the whole: wall time, per item, CPU, event loop, RSS. */
async function measureParallel<T>(items: T[], task: (item: T) => Promise<unknown>): Promise<RunFigures> {
  const sampler = new RssSampler(10).start();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const perItem: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const settled = await Promise.allSettled(
    items.map(async (item) => {
      const t0 = performance.now();
      await task(item);
      perItem.push(performance.now() - t0);
    }),
  );
  const wallMs = round(performance.now() - started, 1);
  const cpu = process.cpuUsage(cpuBefore);
  loopDelay.disable();
  const rss = sampler.stop();
  const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
  return {
    wallMs,
    perBoxMs: summarize(perItem),
    failures: errors.length,
    errors: [...new Set(errors)].slice(0, 5),
    processCpuMs: round((cpu.user + cpu.system) / 1000, 0),
    eventLoopDelayMs: {
      p50: round(loopDelay.percentile(50) / 1e6, 1),
      p99: round(loopDelay.percentile(99) / 1e6, 1),
      max: round(loopDelay.max / 1e6, 1),
    },
    rssSampledPeakMiB: rss.peakMiB,
    rssSamples: rss.samples,
    maxRssAfterMiB: maxRssMiB(),
  };
}

function printRun(label: string, run: RunFigures, options: { target?: boolean } = {}): void {
  console.log(`\n${label}`);
  const verdictText = options.target ? `   (target < ${TARGET_WALL_MS} ms: ${verdict(run.wallMs < TARGET_WALL_MS && run.failures === 0)})` : '';
  console.log(`  wall time, all ${BOX_COUNT} boxes:  ${run.wallMs} ms${verdictText}`);
  console.log(`  per box:                     ${formatSummary(run.perBoxMs)}`);
  console.log(`  CPU time of this process:    ${run.processCpuMs} ms (${round((run.processCpuMs / run.wallMs) * 100, 0)}% of one core over the wall time)`);
  console.log(`  event loop delay:            p50=${run.eventLoopDelayMs.p50} p99=${run.eventLoopDelayMs.p99} max=${run.eventLoopDelayMs.max} (ms)`);
  console.log(`  failures:                    ${run.failures}${run.errors.length ? `  e.g. ${run.errors.join(' | ')}` : ''}`);
  console.log(`  RSS:                         sampled peak ${run.rssSampledPeakMiB} MiB (${run.rssSamples} samples at 10 ms), process maxRSS so far ${run.maxRssAfterMiB} MiB`);
}

async function main(): Promise<void> {
  const m = machine();
  console.log(`${NAME}: refreshFacts on ${BOX_COUNT} lab boxes in parallel, backend in-process (SQLite)`);
  printMachine(m);
  const tempDirs: string[] = [];
  removeLabBoxesOnInterrupt(tempDirs);

  let labBoxes: LabBox[] = [];
  let services: Services | undefined;
  const dataDir = await mkdtemp(join(os.tmpdir(), 'boxyard-bench-'));
  tempDirs.push(dataDir);
  const memory: MemorySnapshot[] = [memorySnapshot('script start')];
  try {
    let t = performance.now();
    labBoxes = await startLabBoxes(BOX_COUNT);
    const labStartMs = round(performance.now() - t, 0);
    console.log(`\nlab: ${labBoxes.length} boxes up in ${labStartMs} ms`);
    memory.push(memorySnapshot('lab boxes started'));

    t = performance.now();
    const env = loadEnv({
      NODE_ENV: 'production',
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_ADMIN_EMAIL: 'bench-admin@boxyard.local',
      BOXYARD_ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    });
    ({ services } = await startServices(env, { pollStatus: false }));
    const servicesStartMs = round(performance.now() - t, 0);
    const svc = services;
    memory.push(memorySnapshot('services started'));
    console.log(`backend: started in ${servicesStartMs} ms (data dir ${dataDir}, pool max ${env.SSH_MAX_CHANNELS_PER_BOX} channels/box)`);

    const limit = pLimit(DOCKER_CONCURRENCY);
    await Promise.all(labBoxes.map((box) => limit(() => box.authorize(svc.dashboardPublicKey))));

    const admin = await svc.db.user.findFirst({ where: { role: 'admin' }, orderBy: { createdAt: 'asc' } });
    if (!admin) throw new Error('bench: no admin user after startServices');
    const actor: SessionUser = { id: admin.id, email: admin.email, name: admin.name, role: admin.role as SessionUser['role'] };

    const boxes: BoxView[] = [];
    for (const [i, labBox] of labBoxes.entries()) {
      const input = createBoxInput.parse({
        name: `bench-${String(i + 1).padStart(2, '0')}`,
        host: labBox.host,
        port: labBox.port,
        sshUser: labBox.user,
        auth: { method: 'dashboard-key' },
      });
      boxes.push(await createBox(svc.db, svc.secrets, actor, input));
    }
    console.log(`boxes: dashboard key authorized and ${boxes.length} boxes created (auth 'dashboard-key', no pins yet)`);

    memory.push(memorySnapshot('boxes created'));
    const rssBefore = memory[memory.length - 1].rssMiB;
    const cold = await measureParallel(boxes, (box) => svc.remote.refreshFacts(box.id, actor));
    const coldPoolStats = svc.pool.stats();
    memory.push(memorySnapshot('after cold run'));
    printRun('cold run: refreshFacts on every box at once (TCP connect + SSH handshake + host key pinning + facts)', cold, { target: true });
    console.log(`  pool.stats() after:          ${JSON.stringify(coldPoolStats)}`);
    const warm = await measureParallel(boxes, (box) => svc.remote.refreshFacts(box.id, actor));
    const warmPoolStats = svc.pool.stats();
    memory.push(memorySnapshot('after warm run'));
    printRun('warm run: the same again (pooled connections reused)', warm, { target: true });
    console.log(`  pool.stats() after:          ${JSON.stringify(warmPoolStats)}`);

    // Breakdown: the same command over the same pooled connections, without the database and audit work that
    // refreshFacts adds (loading the row, audit entries, status and facts writes).
    const rowsForTargets = await svc.db.box.findMany({ where: { id: { in: boxes.map((b) => b.id) } } });
    const warmSshOnly = await measureParallel(rowsForTargets, (row) =>
      svc.pool.exec(row.id, svc.remote.target(row), factsCommand, { timeoutMs: 20_000 }),
    );
    printRun('breakdown, warm SSH only: pool.exec of the facts command on every box (no database, no audit)', warmSshOnly);

    // Counted on the boxes themselves: established TCP connections to sshd's port 22.
    const counts = await Promise.all(
      labBoxes.map((box) =>
        limit(async () => {
          const result = await box.root("ss -Htn state established '( sport = :22 )' | wc -l");
          return Number(result.stdout.trim());
        }),
      ),
    );
    const connectionsPerBox = summarize(counts);
    const boxesNotAtOne = counts.filter((c) => c !== TARGET_CONNECTIONS_PER_BOX).length;

    // Breakdown of the cold run: a fresh pool (after the count above, so its connections are not counted) connects to
    // every box and runs the facts command, with the pins now known, and no database or audit work.
    const freshPool = new SshPool({ connectTimeoutMs: env.SSH_CONNECT_TIMEOUT_MS, maxChannelsPerConnection: env.SSH_MAX_CHANNELS_PER_BOX });
    freshPool.start();
    let coldSshOnly: RunFigures;
    try {
      coldSshOnly = await measureParallel(rowsForTargets, (row) => {
        const { onHostKeyPinned: _notNeeded, ...target } = svc.remote.target(row);
        return freshPool.exec(`fresh-${row.id}`, target, factsCommand, { timeoutMs: 20_000 });
      });
    } finally {
      await freshPool.stop();
    }
    printRun('breakdown, cold SSH only: a new SshPool connects to every box and runs the facts command (pins known; no database, no audit)', coldSshOnly);

    // What the dashboard recorded.
    const rows = await svc.db.box.findMany({ where: { id: { in: boxes.map((b) => b.id) } } });
    const bad = rows.filter((row) => {
      const facts = row.facts ? (JSON.parse(row.facts) as BoxFacts) : null;
      return row.status !== 'online' || facts?.os.id !== 'debian' || !row.hostKeyFingerprint;
    });
    const verificationFailures = bad.length + (boxes.length - rows.length);
    const auditRows = await svc.db.auditEvent.count();

    const peakMaxRss = maxRssMiB();
    const peakMaxRssMB = maxRssMB();
    const peakSampled = Math.max(cold.rssSampledPeakMiB, warm.rssSampledPeakMiB);
    console.log('\nafter both runs');
    console.log(
      `  TCP connections per box (ss on the box): min=${connectionsPerBox.min} median=${connectionsPerBox.median} max=${connectionsPerBox.max}, ` +
        `boxes with != ${TARGET_CONNECTIONS_PER_BOX}: ${boxesNotAtOne}   (target 1 per box: ${verdict(boxesNotAtOne === 0)})`,
    );
    console.log(`  boxes not 'online' with os.id 'debian' and a pinned host key: ${verificationFailures} of ${boxes.length}`);
    if (bad.length) console.log(`    e.g. ${bad.slice(0, 3).map((r) => `${r.name}: ${r.status} ${r.statusMessage}`).join(' | ')}`);
    console.log(`  audit events written: ${auditRows}`);
    console.log(`  RSS before the runs: ${rssBefore} MiB; sampled peak during the runs: ${peakSampled} MiB`);
    console.log('  memory by stage (MiB):');
    for (const snap of memory) {
      console.log(
        `    ${snap.stage.padEnd(18)} rss=${snap.rssMiB} heapUsed=${snap.heapUsedMiB} heapTotal=${snap.heapTotalMiB} external=${snap.externalMiB} arrayBuffers=${snap.arrayBuffersMiB}`,
      );
    }
    console.log(
      `  process peak RSS (resourceUsage().maxRSS, whole process incl. start-up): ${peakMaxRssMB} MB = ${peakMaxRss} MiB   ` +
        `(target < ${TARGET_RSS_MB} MB: ${verdict(peakMaxRssMB < TARGET_RSS_MB)})`,
    );

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      boxCount: BOX_COUNT,
      setup: { labStartMs, servicesStartMs, sshMaxChannelsPerBox: env.SSH_MAX_CHANNELS_PER_BOX },
      targets: { wallMs: TARGET_WALL_MS, connectionsPerBox: TARGET_CONNECTIONS_PER_BOX, rssMB: TARGET_RSS_MB },
      cold: { ...cold, poolStatsAfter: coldPoolStats },
      warm: { ...warm, poolStatsAfter: warmPoolStats },
      warmSshOnly,
      coldSshOnly,
      connectionsPerBox: { ...connectionsPerBox, boxesNotAtOne, counts },
      verificationFailures,
      auditRows,
      rss: { beforeRunsMiB: rssBefore, sampledPeakMiB: peakSampled, maxRssMiB: peakMaxRss, maxRssMB: peakMaxRssMB, byStage: memory },
      met: {
        coldUnder5s: cold.wallMs < TARGET_WALL_MS && cold.failures === 0,
        warmUnder5s: warm.wallMs < TARGET_WALL_MS && warm.failures === 0,
        oneConnectionPerBox: boxesNotAtOne === 0,
        rssUnder300MB: peakMaxRssMB < TARGET_RSS_MB,
        allOnlineDebian: verificationFailures === 0,
      },
    });
    console.log(`\nfigures written to ${file}`);
    if (cold.failures || warm.failures || verificationFailures) process.exitCode = 1;
  } finally {
    const cleanup: Promise<unknown>[] = [];
    if (services) cleanup.push(stopServices(services).catch((e: unknown) => console.error('bench: stopServices failed:', e)));
    await Promise.all(cleanup);
    const limit = pLimit(DOCKER_CONCURRENCY);
    await Promise.all(labBoxes.map((box) => limit(() => box.remove().catch((e: unknown) => console.error(`bench: could not remove ${box.name}:`, e)))));
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();

// Many terminals: 50 sessions opened at once and closed again, ten rounds. Each round opens 50 WebSockets (mode=new)
// spread round-robin over 7 lab boxes, waits for each `ready` state, runs `echo x` in each and waits for its output,
// then sends `close` to each and waits for the 4409 close. Afterwards it counts, ON each box, what is left: PTYs
// (/dev/pts), bash and sshd processes of user dev, established SSH connections; and on the server: sessions, the
// pool's open channels, and this process's RSS (after a forced GC) against its start.
//
// Channel cap: a terminal holds one SSH channel for its whole life and the pool allows SSH_MAX_CHANNELS_PER_BOX
// (default 8) per box, below OpenSSH's MaxSessions (10). The bench keeps the default and spreads the sessions over
// enough boxes: ceil(50 / 7) = 8 per box.
// Run: npx tsx --expose-gc bench/terminal-many.ts [sessions] [rounds] [boxes]   (defaults 50 10 7)
import './quiet';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { startLabBoxes, type LabBox } from '../testing/lab/lab';
import { closeCodes } from '../lib/terminal-protocol';
import { formatSummary, memorySnapshot, MiB, round, summarize, verdict, writeResults, type MemorySnapshot, type Summary } from './common';
import { beginTerminalBench, BenchTerminal, dataDirOf, forceGc, machineLoad, printLoad, rssByMapping, sleep, startBackend, withTimeout, type Backend } from './terminal-common';

const NAME = 'terminal-many';
const SESSIONS = Number(process.argv[2] ?? 50);
const ROUNDS = Number(process.argv[3] ?? 10);
const BOX_COUNT = Number(process.argv[4] ?? 7);
/** RSS after the rounds within this fraction of the start. */
const TARGET_RSS_FRACTION = 0.1; // judged on growth: ending below the start is not a leak
const STEP_TIMEOUT_MS = 60_000;
/**
 * Output of `echo x` on a line of its own, not the echoed command line (`echo x\r\n`). bash ends bracketed paste
 * mode before running the command, so the line may start after `\x1b[?2004l\r` instead of the newline.
 */
const ECHO_OUTPUT = /[\r\n]x\r\n/;
const DOCKER_CONCURRENCY = 4;
/** How long to wait for the boxes to settle (shells exiting after SIGHUP) before the final count. */
const SETTLE_MS = 5_000;

interface RoundFigures {
  round: number;
  /** From creating all sockets to the last `ready`. */
  openAllMs: number;
  /** Per session: socket created to `ready`. */
  openPerSessionMs: Summary;
  /**
   * Its phases, split where the server's TerminalManager.connect() was called (wrapped by this script at run time):
   * `admission` is socket created to connect() (HTTP upgrade, session cookie and box looked up in the database);
   * `channel` is connect() to the `ready` state received (the SSH channel and PTY opened, the audit entry queued).
   */
  phasesMedianMs: Phases;
  phasesMaxMs: Phases;
  echoAllMs: number;
  echoPerSessionMs: Summary;
  /** From sending all `close` messages to the last close event. */
  closeAllMs: number;
  closePerSessionMs: Summary;
  closeCodes: Record<string, number>;
  failures: string[];
  rssAfterMiB: number;
  serverSessionsAfter: number;
  poolAfter: unknown;
}

interface BoxCount {
  box: string;
  pts: number;
  bash: number;
  /** sshd processes running as dev (one per connection: OpenSSH's per-connection child, titled `sshd: dev@...`). */
  sshdDev: number;
  /** Of those, titled `sshd: dev@pts/...`: connections with a PTY session open. */
  sshdDevPts: number;
  sshdTitles: string[];
  connections: number;
}

// `ls /dev/pts` always lists ptmx; the numbered entries are the PTYs.
const COUNT_COMMAND = [
  "echo pts=$(ls /dev/pts | grep -c '^[0-9]')",
  'echo bash=$(pgrep -u dev -x -c bash)',
  "echo sshd=$(pgrep -u dev -c -f '^sshd: dev')",
  "echo sshdpts=$(pgrep -u dev -c -f '^sshd: dev@pts')",
  "echo conns=$(ss -Htn state established '( sport = :22 )' | wc -l)",
  "pgrep -u dev -a -f '^sshd: dev' | cut -d' ' -f2- | sed 's/^/title=/'",
].join('; ');

async function countOnBox(box: LabBox): Promise<BoxCount> {
  const result = await box.root(COUNT_COMMAND);
  const value = (key: string) => Number(new RegExp(`^${key}=(\\d+)`, 'm').exec(result.stdout)?.[1] ?? NaN);
  const titles = [...result.stdout.matchAll(/^title=(.*)$/gm)].map((match) => match[1]!);
  return { box: box.name, pts: value('pts'), bash: value('bash'), sshdDev: value('sshd'), sshdDevPts: value('sshdpts'), sshdTitles: titles, connections: value('conns') };
}

async function countAll(boxes: LabBox[]): Promise<BoxCount[]> {
  const limit = pLimit(DOCKER_CONCURRENCY);
  return Promise.all(boxes.map((box) => limit(() => countOnBox(box))));
}

const sum = (counts: BoxCount[], key: 'pts' | 'bash' | 'sshdDev' | 'sshdDevPts' | 'connections') => counts.reduce((total, c) => total + c[key], 0);

/**
 * A few forced GCs with pauses: V8 gives back heap pages (heapTotal) only over several collections, so one gc() right
 * after start-up still holds start-up garbage and the baseline would be too high.
 */
async function settleMemory(): Promise<boolean> {
  let forced = false;
  for (let i = 0; i < 3; i++) {
    forced = await forceGc();
    await sleep(300);
  }
  return forced;
}

interface Phases {
  admission: number;
  channel: number;
}

/** When the server's TerminalManager.connect() was called, per session id. */
const admittedAt = new Map<string, number>();

function phases(terminals: BenchTerminal[], stat: 'median' | 'max'): Phases {
  const admitted = (t: BenchTerminal) => admittedAt.get(t.session) ?? NaN;
  return {
    admission: round(summarize(terminals.map((t) => admitted(t) - t.createdAt))[stat], 1),
    channel: round(summarize(terminals.map((t) => t.readyAt - admitted(t)))[stat], 1),
  };
}

function stepTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  return withTimeout(work, STEP_TIMEOUT_MS, () => {
    throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms: ${what}`);
  });
}

async function main(): Promise<void> {
  const { machine: m, loadBefore, tempDirs } = beginTerminalBench(`${NAME}: ${SESSIONS} terminals opened, used and closed at once, ${ROUNDS} rounds, over ${BOX_COUNT} lab boxes`);

  let labBoxes: LabBox[] = [];
  let backend: Backend | undefined;
  const open: BenchTerminal[] = [];
  try {
    let t = performance.now();
    labBoxes = await startLabBoxes(BOX_COUNT, { namePrefix: 'bench-many' });
    console.log(`\nlab: ${labBoxes.length} boxes up in ${round(performance.now() - t, 0)} ms`);
    backend = await startBackend({ NODE_ENV: 'production' });
    tempDirs.push(dataDirOf(backend));
    const { services } = backend;
    const cap = services.env.SSH_MAX_CHANNELS_PER_BOX;
    const perBox = Math.ceil(SESSIONS / labBoxes.length);
    console.log(
      `backend in-process; SSH_MAX_CHANNELS_PER_BOX ${cap} (default), so ${SESSIONS} sessions over ${labBoxes.length} boxes = at most ${perBox} per box` +
        (perBox > cap ? `: OVER THE CAP, the rest will queue and may time out` : ''),
    );
    const limit = pLimit(DOCKER_CONCURRENCY);
    await Promise.all(labBoxes.map((box) => limit(() => box.authorize(services.dashboardPublicKey))));
    // Instrumentation only: note when the upgrade handler hands each admitted socket to the TerminalManager.
    const connect = services.terminals.connect.bind(services.terminals);
    services.terminals.connect = (request, socket, early) => {
      admittedAt.set(request.sessionId, performance.now());
      return connect(request, socket, early);
    };
    const url = await backend.listen();
    const boxRefs: { id: string; name: string }[] = [];
    for (const [i, box] of labBoxes.entries()) boxRefs.push(await backend.addBox(`many-${i + 1}`, box, backend.admin));

    const countsBefore = await countAll(labBoxes);
    const gcAvailable = await settleMemory();
    console.log(`global.gc: ${gcAvailable ? 'available, forced before every RSS reading marked (gc)' : 'NOT available (run with npx tsx --expose-gc); RSS read after a 2 s pause instead'}`);
    if (!gcAvailable) await sleep(2_000);
    const memory: MemorySnapshot[] = [memorySnapshot('start (gc), before round 1')];
    const rssStart = process.memoryUsage.rss();
    const mappingsStart = rssByMapping();

    const rounds: RoundFigures[] = [];
    let countsWhileOpen: BoxCount[] | null = null;
    for (let r = 1; r <= ROUNDS; r++) {
      const failures: string[] = [];
      // Open.
      const t0 = performance.now();
      const terminals = Array.from({ length: SESSIONS }, (_, i) => {
        const terminal = new BenchTerminal(url, boxRefs[i % boxRefs.length]!.id, { cookie: backend!.admin.cookie, origin: backend!.origin });
        open.push(terminal);
        return terminal;
      });
      const readies = await stepTimeout(Promise.allSettled(terminals.map((terminal) => terminal.ready)), `round ${r}: ${SESSIONS} terminals ready`);
      const openAllMs = performance.now() - t0;
      for (const result of readies) if (result.status === 'rejected') failures.push(String(result.reason));
      const ready = terminals.filter((terminal) => terminal.readyAt > 0);

      // Use.
      const t1 = performance.now();
      const echoMs: number[] = [];
      const echoes = await stepTimeout(
        Promise.allSettled(
          ready.map(async (terminal) => {
            const started = performance.now();
            terminal.type('echo x\r');
            await terminal.out.until(() => ECHO_OUTPUT.test(terminal.out.text), 'the output of echo x', STEP_TIMEOUT_MS);
            echoMs.push(terminal.out.lastChunkAt - started);
          }),
        ),
        `round ${r}: echo x in every terminal`,
      );
      const echoAllMs = performance.now() - t1;
      for (const result of echoes) if (result.status === 'rejected') failures.push(String(result.reason));

      if (r === ROUNDS) countsWhileOpen = await countAll(labBoxes); // between the timed steps

      // Close.
      const t2 = performance.now();
      const closes = await Promise.all(terminals.map((terminal) => terminal.end(STEP_TIMEOUT_MS)));
      const closeAllMs = performance.now() - t2;
      const codes: Record<string, number> = {};
      for (const closed of closes) codes[closed.code] = (codes[closed.code] ?? 0) + 1;
      for (const closed of closes) if (closed.code !== closeCodes.ended) failures.push(`closed with ${closed.code} ${closed.reason}`);
      for (const terminal of terminals) open.splice(open.indexOf(terminal), 1);

      const figures: RoundFigures = {
        round: r,
        openAllMs: round(openAllMs, 1),
        openPerSessionMs: summarize(ready.map((terminal) => terminal.readyAt - terminal.createdAt)),
        phasesMedianMs: phases(ready, 'median'),
        phasesMaxMs: phases(ready, 'max'),
        echoAllMs: round(echoAllMs, 1),
        echoPerSessionMs: summarize(echoMs),
        closeAllMs: round(closeAllMs, 1),
        closePerSessionMs: summarize(closes.map((closed) => closed.at - t2)),
        closeCodes: codes,
        failures: [...new Set(failures)],
        rssAfterMiB: round(process.memoryUsage.rss() / MiB, 1),
        serverSessionsAfter: services.terminals.stats().sessions,
        poolAfter: services.pool.stats(),
      };
      rounds.push(figures);
      for (const terminal of terminals) admittedAt.delete(terminal.session);
      console.log(
        `round ${String(r).padStart(2)}: open all ${figures.openAllMs} ms (per session median ${figures.openPerSessionMs.median}, p99 ${figures.openPerSessionMs.p99}); ` +
          `echo x all ${figures.echoAllMs} ms (median ${figures.echoPerSessionMs.median}); ` +
          `close all ${figures.closeAllMs} ms (median ${figures.closePerSessionMs.median}, max ${figures.closePerSessionMs.max}); ` +
          `codes ${JSON.stringify(codes)}; median admission ${figures.phasesMedianMs.admission} + channel ${figures.phasesMedianMs.channel} ms; RSS ${figures.rssAfterMiB} MiB; server sessions after ${figures.serverSessionsAfter}` +
          (figures.failures.length ? `; FAILURES ${figures.failures.length}: ${figures.failures.slice(0, 3).join(' | ')}` : ''),
      );
      if (r === 1) {
        await settleMemory();
        memory.push(memorySnapshot('after round 1 (gc)'));
      }
    }

    // Leaks, counted on the boxes: right after the last close, then once they had SETTLE_MS to settle.
    const countsAfter = await countAll(labBoxes);
    const settleStart = performance.now();
    let countsSettled = countsAfter;
    while (performance.now() - settleStart < SETTLE_MS && (sum(countsSettled, 'pts') > sum(countsBefore, 'pts') || sum(countsSettled, 'bash') > sum(countsBefore, 'bash'))) {
      await sleep(500);
      countsSettled = await countAll(labBoxes);
    }
    const settledAfterMs = round(performance.now() - settleStart, 0);
    const leakedPts = sum(countsSettled, 'pts') - sum(countsBefore, 'pts');
    const leakedBash = sum(countsSettled, 'bash') - sum(countsBefore, 'bash');
    const serverStats = services.terminals.stats();
    const poolStats = services.pool.stats();

    await settleMemory();
    if (!gcAvailable) await sleep(2_000);
    memory.push(memorySnapshot(`end (${gcAvailable ? 'gc' : 'no gc, after a pause'})`));
    const rssEnd = process.memoryUsage.rss();
    const mappingsEnd = rssByMapping();
    const rssChange = (rssEnd - rssStart) / rssStart;
    const afterRound1 = memory.find((snap) => snap.stage.startsWith('after round 1'));
    const loadAfter = machineLoad();

    const allFailures = rounds.flatMap((figures) => figures.failures);
    console.log(`\nper round (ms): open all ${formatSummary(summarize(rounds.map((f) => f.openAllMs)))}`);
    console.log(`                close all ${formatSummary(summarize(rounds.map((f) => f.closeAllMs)))}`);
    console.log(`per session, all rounds: open to ready median ${summarize(rounds.map((f) => f.openPerSessionMs.median)).median} ms (median of the rounds' medians)`);
    const phase = (key: keyof Phases) => summarize(rounds.map((f) => f.phasesMedianMs[key])).median;
    console.log(
      `  of which (median of the rounds' medians): admission (upgrade, cookie session and box looked up) ${phase('admission')} ms, ` +
        `SSH channel + PTY open to ready ${phase('channel')} ms`,
    );
    console.log(`failures over ${ROUNDS} rounds: ${allFailures.length}`);
    console.log('\non the boxes (before the rounds -> right after the last close -> settled):');
    const show = (counts: BoxCount[]) =>
      `pts=${sum(counts, 'pts')} bash=${sum(counts, 'bash')} 'sshd: dev@pts'=${sum(counts, 'sshdDevPts')} sshd(dev, all)=${sum(counts, 'sshdDev')} ssh conns=${sum(counts, 'connections')}`;
    console.log(`  before:   ${show(countsBefore)}`);
    if (countsWhileOpen) console.log(`  while the last round's ${SESSIONS} were open (check that the count sees them): ${show(countsWhileOpen)}`);
    console.log(`  after:    ${show(countsAfter)}`);
    console.log(`  settled:  ${show(countsSettled)} (after ${settledAfterMs} ms)`);
    console.log(`  per box settled: ${countsSettled.map((c) => `${c.pts}/${c.bash}/${c.sshdDev}/${c.connections}`).join(' ')} (pts/bash/sshd/conns)`);
    console.log(`  sshd titles of dev on one box: ${JSON.stringify(countsSettled[0]?.sshdTitles)}`);
    const leakedPtySessions = sum(countsSettled, 'sshdDevPts') - sum(countsBefore, 'sshdDevPts');
    console.log(
      `  leaked PTYs: ${leakedPts}, leaked shells: ${leakedBash}, sshd connections still holding a PTY session: ${leakedPtySessions}   ` +
        `(target 0: ${verdict(leakedPts <= 0 && leakedBash <= 0 && leakedPtySessions <= 0)})`,
    );
    console.log(`on the server: terminals.stats() ${JSON.stringify(serverStats)}; pool.stats() ${JSON.stringify(poolStats)}`);
    console.log('\nmemory (MiB):');
    for (const snap of memory) {
      console.log(`  ${snap.stage.padEnd(30)} rss=${snap.rssMiB} heapUsed=${snap.heapUsedMiB} heapTotal=${snap.heapTotalMiB} external=${snap.externalMiB} arrayBuffers=${snap.arrayBuffersMiB}`);
    }
    console.log(
      `  RSS end vs start: ${round(rssStart / MiB, 1)} -> ${round(rssEnd / MiB, 1)} MiB (${rssChange >= 0 ? '+' : ''}${round(rssChange * 100, 1)}%)   ` +
        `(target: at most ${TARGET_RSS_FRACTION * 100}% above the start: ${verdict(rssChange <= TARGET_RSS_FRACTION)})`,
    );
    if (mappingsStart && mappingsEnd) {
      const keys = Object.keys(mappingsStart) as (keyof typeof mappingsStart)[];
      console.log(`  RSS by mapping (/proc/self/smaps, MiB), start -> end: ${keys.map((k) => `${k} ${mappingsStart[k]} -> ${mappingsEnd[k]}`).join('; ')}`);
    }
    if (afterRound1) console.log(`  RSS end vs after round 1: ${afterRound1.rssMiB} -> ${round(rssEnd / MiB, 1)} MiB (${round(((rssEnd / MiB - afterRound1.rssMiB) / afterRound1.rssMiB) * 100, 1)}%)`);
    printLoad('load after', loadAfter);

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      load: { before: loadBefore, after: loadAfter },
      sessions: SESSIONS,
      rounds: ROUNDS,
      boxes: labBoxes.length,
      channelCap: { sshMaxChannelsPerBox: cap, sessionsPerBoxMax: perBox, choice: 'default cap kept; sessions spread round-robin over the boxes' },
      gcAvailable,
      perRound: rounds,
      failures: allFailures.length,
      boxCounts: { before: countsBefore, whileOpenLastRound: countsWhileOpen, after: countsAfter, settled: countsSettled, settledAfterMs },
      leaked: { pts: leakedPts, bash: leakedBash, sshdWithPty: sum(countsSettled, 'sshdDevPts') - sum(countsBefore, 'sshdDevPts') },
      server: { terminals: serverStats, pool: poolStats },
      memory,
      rss: { startMiB: round(rssStart / MiB, 1), endMiB: round(rssEnd / MiB, 1), changePercent: round(rssChange * 100, 1), byMapping: { start: mappingsStart, end: mappingsEnd } },
      met: { noLeaks: leakedPts <= 0 && leakedBash <= 0 && sum(countsSettled, 'sshdDevPts') <= sum(countsBefore, 'sshdDevPts'), rssWithin10Percent: rssChange <= TARGET_RSS_FRACTION, noFailures: allFailures.length === 0 },
    });
    console.log(`\nfigures written to ${file}`);
  } finally {
    for (const terminal of open) terminal.terminate();
    await backend?.stop().catch((e: unknown) => console.error('bench: backend stop failed:', e));
    const limit = pLimit(DOCKER_CONCURRENCY);
    await Promise.all(labBoxes.map((box) => limit(() => box.remove().catch((e: unknown) => console.error(`bench: could not remove ${box.name}:`, e)))));
  }
}

await main();

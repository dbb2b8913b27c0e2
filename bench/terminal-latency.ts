// Terminal keystroke latency: one printable character sent as an `input` message from a Node `ws` client through the
// dashboard's terminal endpoint (HTTP server + upgrade handler + TerminalManager + SSH pool, all in this process) to
// a lab box's shell, timed until the character comes back as output; next to a plain ssh2 `shell` channel to the same
// box doing the same. The shell runs `stty -icanon; cat >/dev/null`, so every character is echoed by the box's PTY
// line discipline at once, alone, with no prompt or line editing mixed in.
// Run: npx tsx bench/terminal-latency.ts [N]   (default 1000; JSON in bench/.results/terminal-latency.json)
import './quiet';
import { performance } from 'node:perf_hooks';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { formatSummary, memorySnapshot, round, summarize, verdict, writeResults } from './common';
import { beginTerminalBench, BenchTerminal, dataDirOf, machineLoad, openDirectShell, OutputWatcher, printLoad, startBackend, type Backend, type DirectShell } from './terminal-common';

const NAME = 'terminal-latency';
const N = Number(process.argv[2] ?? 1000);
/** Keystrokes on each path before timing: lets the JIT settle (with 50 the medians were ~2x higher than after 5,000). */
const WARMUP = 500;
/** The dashboard may add this much to the median round trip (loopback). */
const TARGET_ADDED_MEDIAN_MS = 0.5;
const CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789';
const KEYSTROKE_TIMEOUT_MS = 5_000;

interface Path {
  name: string;
  send: (c: string) => void;
  out: OutputWatcher;
}

/** Puts the shell into character-at-a-time echo and waits until the command line and prompt have gone quiet. */
async function prepare(path: Path): Promise<void> {
  path.send('stty -icanon; cat >/dev/null\r');
  await path.out.untilText('cat >/dev/null');
  await path.out.untilQuiet(300);
  // One probe: it must come back alone.
  const ms = await keystroke(path, 'Z');
  if (ms < 0) throw new Error(`${path.name}: the probe keystroke did not come back alone (tail ${JSON.stringify(path.out.text.slice(-80))})`);
}

let mismatches = 0;
const mismatchExamples: string[] = [];

/** Sends one character, resolves with the time until it was received back (ms), or -1 if anything else came. */
async function keystroke(path: Path, c: string): Promise<number> {
  const before = path.out.bytes;
  const arrived = path.out.untilBytes(before, 1, KEYSTROKE_TIMEOUT_MS);
  const t0 = performance.now();
  path.send(c);
  await arrived;
  const elapsed = path.out.lastChunkAt - t0;
  const got = path.out.lastChunk?.toString('latin1') ?? '';
  if (got !== c || path.out.bytes !== before + 1) {
    mismatches++;
    if (mismatchExamples.length < 5) mismatchExamples.push(`${path.name}: sent ${JSON.stringify(c)} got ${JSON.stringify(got)}`);
    await path.out.untilQuiet(100);
    return -1;
  }
  return elapsed;
}

async function main(): Promise<void> {
  const { machine: m, loadBefore, tempDirs } = beginTerminalBench(`${NAME}: keystroke echo round trip, ${N} keystrokes each, dashboard WebSocket vs plain ssh2, one lab box`);

  let box: LabBox | undefined;
  let backend: Backend | undefined;
  let terminal: BenchTerminal | undefined;
  let direct: DirectShell | undefined;
  try {
    box = await startLabBox({ namePrefix: 'bench-latency' });
    backend = await startBackend({ NODE_ENV: 'production' });
    tempDirs.push(dataDirOf(backend));
    await box.authorize(backend.services.dashboardPublicKey);
    const url = await backend.listen();
    const boxRef = await backend.addBox('latency', box, backend.admin);
    console.log(`\nlab: box ${box.name} on 127.0.0.1:${box.port}; dashboard terminal endpoint ${url}; signed in as ${backend.admin.user.email}`);

    let t = performance.now();
    terminal = new BenchTerminal(url, boxRef.id, { cookie: backend.admin.cookie, origin: backend.origin });
    await terminal.ready;
    const dashboardOpenMs = round(performance.now() - t, 1);
    t = performance.now();
    direct = await openDirectShell(box);
    const directOpenMs = round(performance.now() - t, 1);
    const term = terminal;
    const dashboard: Path = { name: 'dashboard', send: (c) => term.type(c), out: term.out };
    const ch = direct.channel;
    const plain: Path = { name: 'ssh2', send: (c) => ch.write(c), out: direct.out };
    await Promise.all([prepare(dashboard), prepare(plain)]);
    console.log(`opened: dashboard terminal (new SSH connection, WebSocket to ready) ${dashboardOpenMs} ms; plain ssh2 connect + shell ${directOpenMs} ms`);

    for (let i = 0; i < WARMUP; i++) {
      await keystroke(dashboard, CHARS[i % CHARS.length]);
      await keystroke(plain, CHARS[i % CHARS.length]);
    }
    mismatches = 0;

    // Interleaved, one keystroke on each path in turn (order swapped every time), so both see the same machine load.
    const dashboardMs: number[] = [];
    const plainMs: number[] = [];
    const pairDiffMs: number[] = [];
    const cpuBefore = process.cpuUsage();
    t = performance.now();
    for (let i = 0; i < N; i++) {
      const c = CHARS[i % CHARS.length];
      const order = i % 2 === 0 ? [dashboard, plain] : [plain, dashboard];
      const times = new Map<string, number>();
      for (const path of order) times.set(path.name, await keystroke(path, c));
      const d = times.get('dashboard')!;
      const p = times.get('ssh2')!;
      if (d >= 0) dashboardMs.push(d);
      if (p >= 0) plainMs.push(p);
      if (d >= 0 && p >= 0) pairDiffMs.push(d - p);
    }
    const totalMs = round(performance.now() - t, 0);
    const cpu = process.cpuUsage(cpuBefore);
    const loadAfter = machineLoad();

    const d = summarize(dashboardMs);
    const p = summarize(plainMs);
    const diff = summarize(pairDiffMs);
    const addedMedian = round(d.median - p.median, 3);
    const stats = backend.services.terminals.sessionStats(terminal.session);
    console.log(`\nround trip per keystroke (ms), ${N} each, interleaved, after ${WARMUP} warm-up keystrokes each:`);
    console.log(`  dashboard (ws -> server -> ssh2 -> sshd -> PTY echo -> back): ${formatSummary(d)}`);
    console.log(`  plain ssh2 shell channel, same box:                          ${formatSummary(p)}`);
    console.log(`  per-keystroke difference (dashboard - ssh2, same i):          ${formatSummary(diff)}`);
    console.log(`  difference of the medians: ${addedMedian} ms; of the p99s: ${round(d.p99 - p.p99, 3)} ms`);
    console.log(`  target: the dashboard adds < ${TARGET_ADDED_MEDIAN_MS} ms at the median: ${verdict(addedMedian < TARGET_ADDED_MEDIAN_MS)}`);
    console.log(`  keystrokes that did not come back alone: ${mismatches}${mismatchExamples.length ? ` e.g. ${mismatchExamples.join(' | ')}` : ''}`);
    console.log(
      `  ${2 * N} keystrokes in ${totalMs} ms; CPU of this process (server + both clients) ${round((cpu.user + cpu.system) / 1000, 0)} ms; ` +
        `acks sent by the WebSocket client ${terminal.acksSent}; session stats ${JSON.stringify(stats)}`,
    );
    printLoad('load after', loadAfter);

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      load: { before: loadBefore, after: loadAfter },
      method:
        'shell runs `stty -icanon; cat >/dev/null`; one printable char per input message, timed until it is received back; ' +
        'dashboard and plain ssh2 interleaved keystroke by keystroke; WebSocket client acks like the browser (64 KiB or 20 ms)',
      n: N,
      warmup: WARMUP,
      openMs: { dashboard: dashboardOpenMs, plainSsh2: directOpenMs },
      dashboardMs: d,
      plainSsh2Ms: p,
      pairDifferenceMs: diff,
      addedMedianMs: addedMedian,
      addedP99Ms: round(d.p99 - p.p99, 3),
      mismatches,
      mismatchExamples,
      totalMs,
      processCpuMs: round((cpu.user + cpu.system) / 1000, 0),
      memory: memorySnapshot('end'),
      target: { addedMedianMs: TARGET_ADDED_MEDIAN_MS, met: addedMedian < TARGET_ADDED_MEDIAN_MS },
    });
    console.log(`\nfigures written to ${file}`);
  } finally {
    terminal?.terminate();
    await direct?.close().catch(() => undefined);
    await backend?.stop().catch((e: unknown) => console.error('bench: backend stop failed:', e));
    await box?.remove().catch((e: unknown) => console.error('bench: could not remove the lab box:', e));
  }
}

await main();

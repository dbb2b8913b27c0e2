// Terminal throughput: `cat` of a ~100 MB printable file on a lab box, through the dashboard's terminal endpoint to a
// WebSocket client that acks like the browser (64 KiB batches, at once), with this process's RSS sampled every 50 ms
// (the server runs in-process; the client counts bytes and keeps none). The same `cat` over a plain ssh2 shell channel
// is measured for reference. Runs alternate dashboard / ssh2. Two ceilings are measured after them: the same `cat` on
// an ssh2 exec channel without a PTY (SSH, docker's port proxy and ssh2's decryption alone), and the PTY alone inside
// the box (`script` copying cat's output through a PTY, no SSH).
// Run: npx tsx --expose-gc bench/terminal-throughput.ts [runs] [browser|frame]
//   (default 3 runs each, browser-style acks; JSON in bench/.results/terminal-throughput.json)
import './quiet';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { startLabBox, type LabBox } from '../testing/lab/lab';
import { MiB, round, summarize, verdict, writeResults } from './common';
import { beginTerminalBench, BenchTerminal, dataDirOf, forceGc, machineLoad, openDirectShell, OutputWatcher, printLoad, startBackend, type AckPolicy, type Backend, type DirectShell } from './terminal-common';

const NAME = 'terminal-throughput';
const RUNS = Number(process.argv[2] ?? 3);
/** How the WebSocket client acks: like the browser (default), or every frame at once (to see what flow control costs). */
const ACKS: AckPolicy = process.argv[3] === 'frame' ? 'frame' : 'browser';
/** base64 of 75,000,000 random bytes: 100,000,000 characters plus a newline every 76, ~101.3 MB, all printable. */
const MAKE_FILE = 'head -c 75000000 /dev/urandom | base64 > /tmp/big && stat -c %s /tmp/big';
const TARGET_MB_PER_S = 100;
/** MB = 10^6 bytes. */
const TARGET_RSS_GROWTH_MB = 50;
const RSS_SAMPLE_MS = 50;
const RUN_TIMEOUT_MS = 180_000;
const MARKER = 'END-OF-CAT-2';
const COMMAND = "cat /tmp/big; echo END-OF-CAT-$((1+1))";

interface Run {
  path: 'dashboard' | 'ssh2';
  seconds: number;
  fileMBps: number;
  /** Bytes received (the PTY turns each \n into \r\n, plus the command's own echo and prompt). */
  receivedBytes: number;
  receivedMBps: number;
  cpuMs: number;
  eventLoopDelayMaxMs: number;
  /** Output chunks received (WebSocket frames for the dashboard, SSH data messages for ssh2) and their mean size. */
  chunks: number;
  meanChunkBytes: number;
  rss?: {
    beforeMiB: number;
    peakMiB: number;
    growthMB: number;
    growthMiB: number;
    afterMiB: number;
    samples: number;
    gcForced: boolean;
  };
  server?: { peakUnackedBytes: number; peakBufferedBytes: number; pausedSamples: number; acksSent: number };
}

interface Shell {
  out: OutputWatcher;
  type: (text: string) => void;
}

/** Types the command without Enter, waits for the line to be echoed and go quiet, then times Enter to the marker. */
async function catThrough(shell: Shell, during?: () => void): Promise<{ ms: number; receivedBytes: number; chunks: number; cpuMs: number; loopMaxMs: number }> {
  shell.type(COMMAND);
  await shell.out.untilText('$((1+1))');
  await shell.out.untilQuiet(200);
  shell.out.clearTail();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const sampler = during ? setInterval(during, RSS_SAMPLE_MS) : undefined;
  during?.();
  const before = shell.out.bytes;
  const chunksBefore = shell.out.chunks;
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  shell.type('\r');
  await shell.out.untilText(MARKER, RUN_TIMEOUT_MS);
  const ms = shell.out.lastChunkAt - t0;
  const chunks = shell.out.chunks - chunksBefore;
  const cpu = process.cpuUsage(cpuBefore);
  during?.();
  clearInterval(sampler);
  loop.disable();
  await shell.out.untilQuiet(200); // the prompt
  return { ms, receivedBytes: shell.out.bytes - before, chunks, cpuMs: round((cpu.user + cpu.system) / 1000, 0), loopMaxMs: round(loop.max / 1e6, 1) };
}

async function main(): Promise<void> {
  const { machine: m, loadBefore, tempDirs } = beginTerminalBench(
    `${NAME}: cat of a ~100 MB printable file, dashboard WebSocket (${ACKS === 'browser' ? 'acks like the browser: 64 KiB batches or 20 ms' : 'acks every frame at once'}) ` +
      `vs plain ssh2, ${RUNS} runs each`,
  );

  let box: LabBox | undefined;
  let backend: Backend | undefined;
  let terminal: BenchTerminal | undefined;
  let direct: DirectShell | undefined;
  try {
    box = await startLabBox({ namePrefix: 'bench-throughput' });
    const made = await box.root(MAKE_FILE);
    const fileBytes = Number(made.stdout.trim());
    if (made.code !== 0 || !fileBytes) throw new Error(`bench: could not create /tmp/big: ${made.stderr}`);
    await box.root('cat /tmp/big > /dev/null'); // in the page cache for every run
    console.log(`\nlab: box ${box.name} on 127.0.0.1:${box.port}; /tmp/big is ${fileBytes} bytes (${round(fileBytes / 1e6, 2)} MB)`);

    backend = await startBackend({ NODE_ENV: 'production' });
    tempDirs.push(dataDirOf(backend));
    await box.authorize(backend.services.dashboardPublicKey);
    const url = await backend.listen();
    const boxRef = await backend.addBox('throughput', box, backend.admin);
    terminal = new BenchTerminal(url, boxRef.id, { cookie: backend.admin.cookie, origin: backend.origin, acks: ACKS });
    await terminal.ready;
    direct = await openDirectShell(box);
    await Promise.all([terminal.out.untilQuiet(300), direct.out.untilQuiet(300)]);
    const gcAvailable = await forceGc();
    console.log(
      `backend in-process, terminal ready; TERMINAL_BUFFER_BYTES ${backend.services.env.TERMINAL_BUFFER_BYTES}; ` +
        `global.gc ${gcAvailable ? 'available (forced before each dashboard run)' : 'NOT available (run with npx tsx --expose-gc)'}`,
    );

    const term = terminal;
    const { services } = backend;
    const ch = direct.channel;
    const dashboardShell: Shell = { out: term.out, type: (text) => term.type(text) };
    const plainShell: Shell = { out: direct.out, type: (text) => ch.write(text) };
    const runs: Run[] = [];

    for (let i = 0; i < RUNS; i++) {
      // Dashboard.
      const gcForced = await forceGc();
      const rssBefore = process.memoryUsage.rss();
      let peakRss = rssBefore;
      let samples = 0;
      let peakUnacked = 0;
      let peakBuffered = 0;
      let pausedSamples = 0;
      const acksBefore = term.acksSent;
      const sample = () => {
        samples++;
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
        const s = services.terminals.sessionStats(term.session);
        if (s) {
          peakUnacked = Math.max(peakUnacked, s.unackedBytes);
          peakBuffered = Math.max(peakBuffered, s.socketBufferedBytes + s.channelBufferedBytes);
          if (s.paused) pausedSamples++;
        }
      };
      const d = await catThrough(dashboardShell, sample);
      await forceGc();
      const rssAfter = process.memoryUsage.rss();
      runs.push({
        path: 'dashboard',
        seconds: round(d.ms / 1000, 3),
        fileMBps: round(fileBytes / 1e6 / (d.ms / 1000), 1),
        receivedBytes: d.receivedBytes,
        receivedMBps: round(d.receivedBytes / 1e6 / (d.ms / 1000), 1),
        cpuMs: d.cpuMs,
        chunks: d.chunks,
        meanChunkBytes: round(d.receivedBytes / d.chunks, 0),
        eventLoopDelayMaxMs: d.loopMaxMs,
        rss: {
          beforeMiB: round(rssBefore / MiB, 1),
          peakMiB: round(peakRss / MiB, 1),
          growthMB: round((peakRss - rssBefore) / 1e6, 1),
          growthMiB: round((peakRss - rssBefore) / MiB, 1),
          afterMiB: round(rssAfter / MiB, 1),
          samples,
          gcForced,
        },
        server: { peakUnackedBytes: peakUnacked, peakBufferedBytes: peakBuffered, pausedSamples, acksSent: term.acksSent - acksBefore },
      });
      printRun(runs.at(-1)!, i);

      // Plain ssh2.
      const p = await catThrough(plainShell);
      runs.push({
        path: 'ssh2',
        seconds: round(p.ms / 1000, 3),
        fileMBps: round(fileBytes / 1e6 / (p.ms / 1000), 1),
        receivedBytes: p.receivedBytes,
        receivedMBps: round(p.receivedBytes / 1e6 / (p.ms / 1000), 1),
        cpuMs: p.cpuMs,
        chunks: p.chunks,
        meanChunkBytes: round(p.receivedBytes / p.chunks, 0),
        eventLoopDelayMaxMs: p.loopMaxMs,
      });
      printRun(runs.at(-1)!, i);
    }
    // Ceilings of the environment, for judging the figures above.
    const noPtyMBps: number[] = [];
    const ptyOnlyMBps: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      noPtyMBps.push(round(fileBytes / 1e6 / ((await execWithoutPty(direct, fileBytes)) / 1000), 1));
      const inBox = await box.root(PTY_ONLY);
      const ns = Number(/ns=(\d+)/.exec(inBox.stdout)?.[1]);
      ptyOnlyMBps.push(round(fileBytes / 1e6 / (ns / 1e9), 1));
    }
    const noPty = summarize(noPtyMBps);
    const ptyOnly = summarize(ptyOnlyMBps);
    console.log(`ceiling: plain ssh2 exec \`cat /tmp/big\` WITHOUT a PTY: ${noPtyMBps.join(', ')} MB/s`);
    console.log(`ceiling: the PTY alone inside the box (script -qc 'cat /tmp/big' > /dev/null, no SSH): ${ptyOnlyMBps.join(', ')} MB/s`);
    const loadAfter = machineLoad();

    const dash = runs.filter((r) => r.path === 'dashboard');
    const plain = runs.filter((r) => r.path === 'ssh2');
    const dashMBps = summarize(dash.map((r) => r.fileMBps));
    const plainMBps = summarize(plain.map((r) => r.fileMBps));
    const worstGrowthMB = Math.max(...dash.map((r) => r.rss!.growthMB));
    const throughputMet = dashMBps.median >= TARGET_MB_PER_S;
    const rssMet = worstGrowthMB < TARGET_RSS_GROWTH_MB;
    console.log(`\nsummary (MB = 10^6 bytes of the file per second; ${RUNS} runs each)`);
    console.log(`  dashboard: median ${dashMBps.median} MB/s (min ${dashMBps.min}, max ${dashMBps.max})   (target >= ${TARGET_MB_PER_S} MB/s: ${verdict(throughputMet)})`);
    console.log(`  plain ssh2: median ${plainMBps.median} MB/s (min ${plainMBps.min}, max ${plainMBps.max}); dashboard / ssh2 = ${round(dashMBps.median / plainMBps.median, 2)}`);
    console.log(`  ceilings (median): ssh2 without a PTY ${noPty.median} MB/s; the PTY alone in the box ${ptyOnly.median} MB/s`);
    console.log(`  RSS growth during a dashboard run, worst of ${RUNS}: ${worstGrowthMB} MB   (target < ${TARGET_RSS_GROWTH_MB} MB: ${verdict(rssMet)})`);
    console.log(`  after the runs: ${JSON.stringify(services.terminals.stats())}`);
    printLoad('load after', loadAfter);

    const file = writeResults(NAME, {
      benchmark: NAME,
      machine: m,
      load: { before: loadBefore, after: loadAfter },
      fileBytes,
      command: COMMAND,
      acks: ACKS,
      gcAvailable,
      runs,
      dashboardFileMBps: dashMBps,
      plainSsh2FileMBps: plainMBps,
      ceilings: { ssh2ExecWithoutPtyMBps: noPtyMBps, ptyAloneInBoxMBps: ptyOnlyMBps },
      worstRssGrowthMB: worstGrowthMB,
      targets: { mbPerS: TARGET_MB_PER_S, rssGrowthMB: TARGET_RSS_GROWTH_MB },
      met: { throughput: throughputMet, rss: rssMet },
    });
    console.log(`\nfigures written to ${file}`);
  } finally {
    terminal?.terminate();
    await direct?.close().catch(() => undefined);
    await backend?.stop().catch((e: unknown) => console.error('bench: backend stop failed:', e));
    await box?.remove().catch((e: unknown) => console.error('bench: could not remove the lab box:', e));
  }
}

/** The box's PTY alone: cat's output copied through a PTY by script(1) to /dev/null; prints the nanoseconds. */
const PTY_ONLY = "s=$(date +%s%N); script -qc 'cat /tmp/big' /dev/null > /dev/null; e=$(date +%s%N); echo ns=$((e - s))";

/** `cat /tmp/big` on an exec channel without a PTY, on the plain ssh2 client; resolves with the milliseconds. */
function execWithoutPty(direct: DirectShell, fileBytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let bytes = 0;
    direct.client.exec('cat /tmp/big', (error, channel) => {
      if (error) return reject(error);
      channel.on('data', (chunk: Buffer) => (bytes += chunk.length));
      channel.stderr.resume();
      channel.on('close', () => (bytes === fileBytes ? resolve(performance.now() - t0) : reject(new Error(`exec cat: got ${bytes} of ${fileBytes} bytes`))));
    });
  });
}

function printRun(run: Run, i: number): void {
  const base =
    `run ${i + 1} ${run.path.padEnd(9)}: ${run.seconds} s, ${run.fileMBps} MB/s of the file (${run.receivedMBps} MB/s received, ${run.receivedBytes} bytes); ` +
    `${run.chunks} chunks of ${run.meanChunkBytes} B on average; CPU of this process ${run.cpuMs} ms; event loop delay max ${run.eventLoopDelayMaxMs} ms`;
  console.log(base);
  if (run.rss && run.server) {
    console.log(
      `                   RSS before ${run.rss.beforeMiB} MiB, peak ${run.rss.peakMiB} MiB (growth ${run.rss.growthMB} MB, ${run.rss.samples} samples at ${RSS_SAMPLE_MS} ms), ` +
        `after (gc) ${run.rss.afterMiB} MiB; server peak unacked ${run.server.peakUnackedBytes} B, peak buffered ${run.server.peakBufferedBytes} B, ` +
        `paused in ${run.server.pausedSamples} samples; acks sent ${run.server.acksSent}`,
    );
  }
}

await main();

// Start to healthy: the dashboard process from spawn() to the first 200 of GET /api/health, the compiled server
// (.next-server/main.mjs) against server/main.ts through tsx, interleaved. A first start on a new data folder
// (migrations, secrets, first admin) and restarts on that folder. Also each process's RSS with no boxes, after it
// served the login page once (Next has loaded a page by then).
// Run: npx tsx bench/start-time.ts [rounds, default 5]   (needs `npx next build` once; builds the server itself)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDashboardBuilds, SERVER_KINDS, startDashboardProcess, type ServerKind } from './dashboard-process';
import { formatSummary, machine, printMachine, round, summarize, type Summary, verdict, writeResults } from './common';

const NAME = 'start-time';
const ROUNDS = Number(process.argv[2] ?? 5);
const TARGET_MS = 3_000;
/** Long enough after the page request for its garbage to be collected, short enough to keep the bench quick. */
const SETTLE_MS = 3_000;

interface Figures {
  firstStartMs: number[];
  restartMs: number[];
  restartCpuMs: number[];
  idleRssMB: number[];
  peakRssMB: number[];
}

async function main() {
  const m = machine();
  printMachine(m);
  prepareDashboardBuilds();
  const empty = (): Figures => ({ firstStartMs: [], restartMs: [], restartCpuMs: [], idleRssMB: [], peakRssMB: [] });
  const figures: Record<ServerKind, Figures> = { compiled: empty(), tsx: empty() };
  for (let round_ = 1; round_ <= ROUNDS; round_++) {
    for (const kind of SERVER_KINDS) {
      const dataDir = mkdtempSync(join(tmpdir(), 'boxyard-start-'));
      try {
        const first = await startDashboardProcess(kind, dataDir);
        figures[kind].firstStartMs.push(first.startToHealthyMs);
        await first.stop();
        const again = await startDashboardProcess(kind, dataDir);
        figures[kind].restartMs.push(again.startToHealthyMs);
        figures[kind].restartCpuMs.push(again.startCpuMs);
        const login = await fetch(`${again.url}/login`);
        if (!login.ok) throw new Error(`GET /login answered ${login.status}`);
        await login.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
        figures[kind].idleRssMB.push(again.rssMB());
        figures[kind].peakRssMB.push(again.peakRssMB());
        await again.stop();
        console.log(`round ${round_} ${kind}: first start ${round(first.startToHealthyMs, 0)} ms, restart ${round(again.startToHealthyMs, 0)} ms (${again.startCpuMs} ms CPU), RSS ${round(figures[kind].idleRssMB.at(-1)!, 0)} MB`);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  console.log('');
  const summaries: Record<string, Record<keyof Figures, Summary>> = {};
  for (const kind of SERVER_KINDS) {
    const f = figures[kind];
    const s = (summaries[kind] = { firstStartMs: summarize(f.firstStartMs), restartMs: summarize(f.restartMs), restartCpuMs: summarize(f.restartCpuMs), idleRssMB: summarize(f.idleRssMB), peakRssMB: summarize(f.peakRssMB) });
    console.log(`${kind}:`);
    console.log(`  first start to healthy  ${formatSummary(s.firstStartMs)}`);
    console.log(`  restart to healthy      ${formatSummary(s.restartMs)}   (target < ${TARGET_MS} ms at the median: ${verdict(s.restartMs.median < TARGET_MS)})`);
    console.log(`  CPU used until healthy  ${formatSummary(s.restartCpuMs)}   (restarts)`);
    console.log(`  RSS, no boxes, idle     ${formatSummary(s.idleRssMB, 'MB')}`);
    console.log(`  peak RSS (VmHWM)        ${formatSummary(s.peakRssMB, 'MB')}`);
  }
  writeResults(NAME, { machine: m, rounds: ROUNDS, figures, summaries });
}

await main();

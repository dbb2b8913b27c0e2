// The fleet page at team scale IN CHROMIUM: 500 boxes (facts, tags, mixed statuses, an hour of 1-minute samples
// each) written into a scratch database, then the dashboard as production runs it on that database and Debian's
// Chromium on its fleet page: time from navigation to the first page of rows (the page interactive), to re-sort by
// a header, and to filter by the search box; and the size of the fleet's queries (boxes.fleet, metrics.fleet; boxes.list for comparison).
// Also, to read the figures: when each load's scripts and tRPC requests finished (resource timing), the time to the
// rows' activity cells (metrics.fleet), and how the sorts' long animation frames split into script and style + layout.
// Run: npx tsx bench/fleet-page.ts [boxes, default 500] [rounds, default 5]   (needs `npx next build`)
import './quiet';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from '@playwright/test';
import { createDb } from '../server/db/client';
import type { BoxFacts } from '../server/boxes/facts';
import { formatSummary, machine, printMachine, round, summarize, verdict, writeResults } from './common';
import { prepareDashboardBuilds, startDashboardProcess } from './dashboard-process';

const NAME = 'fleet-page';
const BOX_COUNT = Number(process.argv[2] ?? 500);
const ROUNDS = Number(process.argv[3] ?? 5);
const TARGETS_MS = { interactive: 1_500, sort: 100, filter: 100 };
const ADMIN = { email: 'admin@boxyard.local', password: 'dashboard-bench-password' };
const STATUSES = ['online', 'online', 'online', 'online', 'unreachable', 'auth-failed'] as const;

function factsOf(i: number): BoxFacts {
  return {
    os: { id: 'debian', name: 'Debian GNU/Linux 12 (bookworm)', version: '12' },
    kernel: '6.1.0-18-amd64',
    arch: i % 5 === 0 ? 'aarch64' : 'x86_64',
    cpus: 2 + (i % 8),
    memoryTotalBytes: (4 + (i % 4) * 4) * 2 ** 30,
    memoryAvailableBytes: 2 * 2 ** 30,
    diskTotalBytes: 100 * 2 ** 30,
    diskFreeBytes: (20 + (i % 60)) * 2 ** 30,
    virtualization: 'kvm',
    docker: i % 3 === 0 ? { client: null, server: null } : { client: '24.0.7', server: '24.0.7' },
    uptimeSeconds: 86_400 + i,
  };
}

/** Boxes and samples written straight into the stopped dashboard's database (the API would connect to each). */
async function seed(databaseUrl: string): Promise<void> {
  const db = createDb(databaseUrl);
  try {
    const admin = await db.user.findUniqueOrThrow({ where: { email: ADMIN.email } });
    const owners = [admin.id];
    for (let i = 0; i < 10; i++) owners.push((await db.user.create({ data: { id: randomUUID(), email: `dev${i}@bench.test`, name: `Dev ${i}`, role: 'developer', emailVerified: true } })).id);
    const now = Date.now();
    for (let start = 0; start < BOX_COUNT; start += 100) {
      const rows = Array.from({ length: Math.min(100, BOX_COUNT - start) }, (_, k) => {
        const i = start + k;
        const status = STATUSES[i % STATUSES.length];
        return {
          name: `bench-box-${String(i).padStart(4, '0')}`,
          host: '127.0.0.1',
          port: 9,
          sshUser: 'dev',
          ownerId: owners[i % owners.length],
          tags: JSON.stringify([`team-${i % 7}`, i % 2 ? 'backend' : 'frontend']),
          status,
          statusMessage: status === 'online' ? '' : `the connection to 127.0.0.1:9 was refused (box ${i}); check that sshd is running on the box and that port 9 is open`,
          statusCheckedAt: new Date(now),
          facts: JSON.stringify(factsOf(i)),
          factsAt: new Date(now),
        };
      });
      await db.box.createMany({ data: rows });
    }
    const boxes = await db.box.findMany({ select: { id: true } });
    const minute = 60_000;
    const hourAgo = Math.floor((now - 3600_000) / minute) * minute;
    for (const box of boxes) {
      await db.metricPoint.createMany({
        data: Array.from({ length: 60 }, (_, m) => ({
          boxId: box.id,
          resolution: 60,
          at: new Date(hourAgo + m * minute),
          cpuPct: (m * 7 + box.id.length) % 100,
          memUsedBytes: 2 * 2 ** 30,
          memTotalBytes: 8 * 2 ** 30,
          load1: 0.5,
          samples: 30,
        })),
      });
    }
  } finally {
    await db.$disconnect();
  }
}

/** One timed action: milliseconds in the page, and how the long animation frames in it spent them. */
interface Timed {
  ms: number;
  /** Sums over the long animation frames (over 50 ms) the action ran in: script (React), style and layout. */
  scriptMs: number;
  styleLayoutMs: number;
}

/** Milliseconds in the page from a click (or input) to the frame after the rows show the change. */
function timeInPage(page: Page, action: 'sort' | 'filter', arg: string): Promise<Timed> {
  return page.evaluate(
    async ([action, arg]) => {
      const firstRow = () => document.querySelector('tr[data-box]')?.getAttribute('data-box') ?? null;
      const rows = () => document.querySelectorAll('tr[data-box]').length;
      const frames: PerformanceEntry[] = [];
      const observer = new PerformanceObserver((list) => frames.push(...list.getEntries()));
      observer.observe({ type: 'long-animation-frame' });
      const before = firstRow();
      const started = performance.now();
      let changed: () => boolean;
      if (action === 'sort') {
        const button = [...document.querySelectorAll<HTMLButtonElement>('th button')].find((b) => b.textContent?.startsWith(arg));
        if (!button) throw new Error(`no sort button ${arg}`);
        button.click();
        changed = () => firstRow() !== before;
      } else {
        const input = document.querySelector<HTMLInputElement>('input[aria-label="Search boxes"]')!;
        Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, arg);
        input.dispatchEvent(new Event('input', { bubbles: true }));
        changed = () => (arg ? rows() === 1 : rows() > 1);
      }
      const frame = () => new Promise((resolve) => requestAnimationFrame(resolve));
      while (!changed()) {
        if (performance.now() - started > 10_000) throw new Error(`${action} ${arg}: no change in 10 s (first row ${firstRow()}, ${rows()} rows)`);
        await frame();
      }
      await frame();
      const ms = performance.now() - started;
      // The long-animation-frame entry of the frame that painted the change is reported after it: wait for it.
      await frame();
      await new Promise((resolve) => setTimeout(resolve, 50));
      frames.push(...observer.takeRecords());
      observer.disconnect();
      let scriptMs = 0;
      let styleLayoutMs = 0;
      for (const entry of frames as (PerformanceEntry & { renderStart: number; styleAndLayoutStart: number })[]) {
        if (entry.startTime + entry.duration < started) continue;
        const end = entry.startTime + entry.duration;
        scriptMs += (entry.renderStart || end) - entry.startTime;
        if (entry.styleAndLayoutStart) styleLayoutMs += end - entry.styleAndLayoutStart;
      }
      return { ms, scriptMs, styleLayoutMs };
    },
    [action, arg] as const,
  );
}

/**
 * When, after navigation start, the page's own scripts had loaded and each of its tRPC requests went out and came
 * back (resource timing): what the page waited for before its rows.
 */
function loadTimeline(page: Page): Promise<{ scriptsLoadedMs: number; requests: { procedures: string; startMs: number; endMs: number }[] }> {
  return page.evaluate(() => {
    const resources = performance.getEntriesByType('resource') as PerformanceResourceTiming[];
    const scripts = resources.filter((r) => r.initiatorType === 'script');
    const requests = resources
      .filter((r) => new URL(r.name).pathname.startsWith('/api/trpc/'))
      .map((r) => ({ procedures: decodeURIComponent(new URL(r.name).pathname.slice('/api/trpc/'.length)), startMs: Math.round(r.startTime), endMs: Math.round(r.responseEnd) }));
    return { scriptsLoadedMs: Math.round(Math.max(0, ...scripts.map((s) => s.responseEnd))), requests };
  });
}

async function main(): Promise<void> {
  printMachine(machine());
  prepareDashboardBuilds();
  const dataDir = mkdtempSync(join(tmpdir(), 'boxyard-bench-fleet-page-'));
  try {
    // First start: migrations and the first admin; stopped while the boxes are written.
    await (await startDashboardProcess('compiled', dataDir)).stop();
    const seeded = performance.now();
    await seed(`file:${join(dataDir, 'boxyard.db')}`);
    console.log(`seeded ${BOX_COUNT} boxes with 60 one-minute samples each in ${round((performance.now() - seeded) / 1000, 1)} s`);

    // The status poller's interval is long: the bench measures the page, not 500 refused connections.
    const dashboard = await startDashboardProcess('compiled', dataDir, { STATUS_INTERVAL_MS: '3600000' });
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless', '--disable-gpu'] });
    try {
      const context = await browser.newContext({ baseURL: dashboard.url, viewport: { width: 1366, height: 900 } });
      // tsx (esbuild, keepNames) wraps named functions in __name(): page.evaluate's code needs it in the page too.
      await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
      const page = await context.newPage();
      await page.goto('/login');
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill(ADMIN.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('signed-in-as').waitFor({ state: 'attached' });

      const interactive: number[] = [];
      const complete: number[] = [];
      const sort: number[] = [];
      const filter: number[] = [];
      const sortFrames: Timed[] = [];
      const timelines: Awaited<ReturnType<typeof loadTimeline>>[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        await page.goto('/');
        // From navigation start to the first page of rows with their search box: the page can be used.
        await page.waitForFunction(() => document.querySelectorAll('tr[data-box]').length >= 50 && !document.querySelector('input[aria-label="Search boxes"]')?.hasAttribute('disabled'));
        interactive.push(await page.evaluate(() => performance.now()));
        // And to every shown row's activity cell (sparkline and badge, from metrics.fleet, which may come after).
        await page.waitForFunction(() => document.querySelectorAll('tr[data-box] [data-testid="box-activity"]').length >= 50);
        complete.push(await page.evaluate(() => performance.now()));
        timelines.push(await loadTimeline(page));
        // Each click changes the first row: name descending, owner ascending and descending, name ascending.
        for (const column of ['Box', 'Owner', 'Owner', 'Box']) {
          const timed = await timeInPage(page, 'sort', column);
          sort.push(timed.ms);
          sortFrames.push(timed);
        }
        filter.push((await timeInPage(page, 'filter', `bench-box-${String(BOX_COUNT - 7 - round).padStart(4, '0')}`)).ms);
        filter.push((await timeInPage(page, 'filter', '')).ms);
      }
      // What the page downloads for its fleet (boxes.fleet, metrics.fleet), and the full list the CLI and other pages
      // use for comparison: each query alone, as the browser's session (bytes of the JSON body).
      const sizes: Record<string, number> = {};
      for (const procedure of ['boxes.fleet', 'metrics.fleet', 'boxes.list']) {
        const response = await context.request.get(`/api/trpc/${procedure}`, { headers: { origin: dashboard.url } });
        if (!response.ok()) throw new Error(`${procedure}: HTTP ${response.status()}`);
        sizes[procedure] = (await response.body()).length;
      }
      const figures = {
        boxes: BOX_COUNT,
        interactiveMs: summarize(interactive),
        completeMs: summarize(complete),
        sortMs: summarize(sort),
        filterMs: summarize(filter),
        sortScriptMs: summarize(sortFrames.map((t) => t.scriptMs)),
        sortStyleLayoutMs: summarize(sortFrames.map((t) => t.styleLayoutMs)),
        loads: timelines,
        responseBytes: sizes,
      };
      console.log(`\nfleet page with ${BOX_COUNT} boxes, ${ROUNDS} rounds (Chromium ${browser.version()})`);
      console.log(`  interactive (navigation to rows): ${formatSummary(figures.interactiveMs)}  target < ${TARGETS_MS.interactive} ms: ${verdict(figures.interactiveMs.median < TARGETS_MS.interactive)}`);
      console.log(`  rows with their activity:         ${formatSummary(figures.completeMs)}`);
      console.log(`  sort by a header:                 ${formatSummary(figures.sortMs)}  target < ${TARGETS_MS.sort} ms: ${verdict(figures.sortMs.median < TARGETS_MS.sort)}`);
      console.log(`  filter by the search box:         ${formatSummary(figures.filterMs)}  target < ${TARGETS_MS.filter} ms: ${verdict(figures.filterMs.median < TARGETS_MS.filter)}`);
      console.log(`    of which script (long frames):   median ${figures.sortScriptMs.median} ms; style and layout: median ${figures.sortStyleLayoutMs.median} ms`);
      for (const [i, timeline] of timelines.entries()) {
        const requests = timeline.requests.map((r) => `${r.procedures} ${r.startMs}-${r.endMs}`).join(', ');
        console.log(`  load ${i + 1}: ${round(interactive[i]!, 0)} ms (activity ${round(complete[i]!, 0)} ms); scripts loaded at ${timeline.scriptsLoadedMs} ms; tRPC ${requests}`);
      }
      for (const [name, bytes] of Object.entries(sizes)) console.log(`  ${name} response: ${round(bytes / 1024, 1)} KiB`);
      console.log(`results: ${writeResults(NAME, figures)}`);
    } finally {
      await browser.close();
      await dashboard.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();

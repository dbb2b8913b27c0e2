import { z } from 'zod';
import type { Db } from '../db/client';
import { boxOf, probeStep, StepFailed, type Recipe, type StepContext } from '../jobs/recipe';
import { sh, type ShellCommand } from '../ssh/quote';
import type { CompiledEntry } from './compile';
import { asRoot, readAppliedCommand } from './guest';
import type { MountMode } from './policy';

/**
 * The proposal's own workloads, run ON the box in a mounted folder and on the box's local disk (the limit):
 *   small-writes: dd of N x 1 KiB blocks (the proposal: 100,000);
 *   tree-walk:    stat, then read, every file of a generated tree (the `go list` analogue), cold (page cache dropped)
 *                 and hot (run again at once);
 *   build-mix:    create, write, read back and append to many small files, delete half, then all (an empty `ember build`).
 * Times are taken inside the box (date +%s%N), so SSH round trips do not count.
 */

export const workloads = ['small-writes', 'tree-walk', 'build-mix'] as const;
export type Workload = (typeof workloads)[number];
export type Phase = 'cold' | 'hot';

export const measureSizes = z.object({
  ddBlocks: z.number().int().min(100).max(1_000_000).default(100_000),
  treeDirs: z.number().int().min(1).max(500).default(50),
  treeFilesPerDir: z.number().int().min(1).max(1000).default(60),
  mixFiles: z.number().int().min(10).max(100_000).default(2_000),
});
export type MeasureSizes = z.output<typeof measureSizes>;

export const LOCAL_BENCH_DIR = '/var/tmp/boxyard-bench';

/** Runs the three workloads in `dir` (a scratch folder .boxyard-bench-<n> is made and removed inside it). */
export function workloadScript(dir: string, sizes: MeasureSizes, options: { dropCaches: boolean; hotRepeats?: number }): ShellCommand {
  const work = `${dir}/.boxyard-bench`;
  const drop = options.dropCaches ? sh.raw('sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "warn=cannot drop caches"') : sh.raw('echo "warn=caches not dropped"');
  const treeWalk = sh.raw('find "$W/tree" -type f -exec stat -c %s {} + >/dev/null; find "$W/tree" -type f -exec cat {} + >/dev/null');
  return sh.join(
    [
      sh`set -eu`,
      sh`now() { date +%s%N; }`,
      sh`report() { echo "$1 $2 $(( ($(now) - $3) / 1000 ))"; }`,
      sh`W=${work}`,
      sh`rm -rf "$W"; mkdir -p "$W"`,
      // small writes
      sh`t=$(now)`,
      sh`dd if=/dev/zero of="$W/dd.bin" bs=1k count=${sizes.ddBlocks} 2>/dev/null`,
      sh`report small-writes hot $t`,
      sh`rm -f "$W/dd.bin"`,
      // tree: generated with shell builtins (no fork per file)
      sh`i=0; while [ $i -lt ${sizes.treeDirs} ]; do mkdir -p "$W/tree/d$i"; j=0; while [ $j -lt ${sizes.treeFilesPerDir} ]; do printf 'package d%s\\n// file %s\\n%0512d\\n' $i $j 0 > "$W/tree/d$i/f$j.go"; j=$((j+1)); done; i=$((i+1)); done`,
      drop,
      sh`t=$(now)`,
      treeWalk,
      sh`report tree-walk cold $t`,
      ...Array.from({ length: options.hotRepeats ?? 1 }, () => [sh`t=$(now)`, treeWalk, sh`report tree-walk hot $t`]).flat(),
      sh`rm -rf "$W/tree"`,
      // build mix
      sh`blob=$(printf "%04096d" 0)`,
      sh`t=$(now)`,
      // shell builtins only (no fork per file, which under TCG would measure process start-up, not the file system):
      // each object is written, read back and appended to; half of them are deleted, then the whole tree.
      sh`mkdir -p "$W/mix"; i=0; while [ $i -lt ${sizes.mixFiles} ]; do printf '%s' "$blob" > "$W/mix/o$i.tmp"; read -r _ < "$W/mix/o$i.tmp" || :; printf 'x' >> "$W/mix/o$i.tmp"; i=$((i+1)); done; rm -f "$W"/mix/o*[02468].tmp; rm -rf "$W/mix"`,
      sh`report build-mix hot $t`,
      sh`rm -rf "$W"`,
    ],
    sh`\n`,
  );
}

export interface Measured {
  workload: Workload;
  phase: Phase;
  durationMs: number;
}

export function parseMeasured(stdout: string): Measured[] {
  return [...stdout.matchAll(/^(small-writes|tree-walk|build-mix) (cold|hot) (\d+)$/gm)].map((m) => ({ workload: m[1] as Workload, phase: m[2] as Phase, durationMs: Number(m[3]) / 1000 }));
}

// ---- recommendation ----

const OUTPUT_DIRS = /(^|\/)(build|dist|out|target|node_modules|\.cache|vendor|tmp|coverage|\.next|__pycache__)(\/|$)/;

export interface Recommendation {
  guestPath: string;
  mode: MountMode;
  why: string;
}

export interface RunLike {
  transport: string;
  mode: string;
  workload: string;
  phase: string;
  durationMs: number;
}

function best(runs: readonly RunLike[], transport: string, mode: string, workload: string, phase: string): number | null {
  const found = runs.filter((r) => r.transport === transport && r.mode === mode && r.workload === workload && r.phase === phase).map((r) => r.durationMs);
  return found.length ? Math.min(...found) : null;
}

/**
 * A mode per directory: build output and caches (regenerable, written a lot) -> delegated when measured writes are
 * faster; sources (the host edits them, the box reads them) -> cached when the hot walk is faster; otherwise
 * consistent. Ratios are quoted from the box's own runs; without runs the rule of thumb alone is given.
 */
export function recommend(guestPath: string, transport: string, runs: readonly RunLike[]): Recommendation {
  const ratio = (mode: string, workload: string, phase: string) => {
    const base = best(runs, transport, 'consistent', workload, phase);
    const other = best(runs, transport, mode, workload, phase);
    return base && other ? base / other : null;
  };
  if (OUTPUT_DIRS.test(guestPath)) {
    const r = ratio('delegated', 'small-writes', 'hot');
    if (r === null) return { guestPath, mode: 'delegated', why: 'build output and caches are regenerable and written a lot; no measurement yet' };
    if (r > 1.2) return { guestPath, mode: 'delegated', why: `build output: delegated small writes measured ${r.toFixed(1)}x faster than consistent on ${transport}` };
    return { guestPath, mode: 'consistent', why: `delegated was not faster here (${r.toFixed(2)}x)` };
  }
  const r = ratio('cached', 'tree-walk', 'hot');
  if (r === null) return { guestPath, mode: 'cached', why: 'sources: edited on the host, read by the box; no measurement yet' };
  if (r > 1.2) return { guestPath, mode: 'cached', why: `sources: cached hot tree walk measured ${r.toFixed(1)}x faster than consistent on ${transport}` };
  return { guestPath, mode: 'consistent', why: `cached was not faster here (${r.toFixed(2)}x), so keep full consistency` };
}

// ---- the recipe ----

export const measureParams = measureSizes.extend({
  /** Also measure the box's local disk (the limit). */
  local: z.boolean().default(true),
});
export type MeasureParams = z.output<typeof measureParams>;

interface MeasureState {
  root: boolean;
}

type Ctx = StepContext<MeasureParams, MeasureState>;

export async function storeRuns(db: Db, boxId: string, target: { transport: string; mode: string; options: string }, runs: readonly Measured[], sizes: MeasureSizes) {
  for (const run of runs) {
    await db.mountBenchRun.create({
      data: { boxId, transport: target.transport, mode: target.mode, workload: run.workload, phase: run.phase, durationMs: run.durationMs, detail: JSON.stringify({ ...sizes, options: target.options }) },
    });
  }
}

async function measureIn(ctx: Ctx, dir: string, target: { transport: string; mode: string; options: string }) {
  const result = await ctx.exec(asRoot(ctx.state.root ?? false, workloadScript(dir, ctx.params, { dropCaches: true })), { timeoutMs: 3_600_000 });
  if (result.code !== 0) throw new StepFailed(`the workloads failed in ${dir}: ${result.stderr.trim().split('\n').slice(-3).join('\n')}`);
  const runs = parseMeasured(result.stdout);
  await storeRuns(ctx.db, boxOf(ctx).id, target, runs, ctx.params);
  await ctx.log(`${dir} (${target.transport}, ${target.mode}): ${runs.map((r) => `${r.workload} ${r.phase} ${Math.round(r.durationMs)} ms`).join(', ')}`);
}

/** Applying and measuring mounts exclude each other on a box: both remount its shared folders. */
export function mountsJobKey(boxId: string): string {
  return `mounts:${boxId}`;
}

export const measureRecipe: Recipe<MeasureParams, MeasureState> = {
  kind: 'mounts.measure',
  needs: { box: true, host: false },
  title: 'Measure mounts',
  params: measureParams,
  exclusiveKeyOf: ({ boxId }) => boxId && mountsJobKey(boxId),
  steps: [
    probeStep('Look at the box', async (ctx: Ctx) => {
      const uid = await ctx.exec(sh`id -u`);
      ctx.state.root = uid.stdout.trim() === '0';
    }),
    probeStep('Measure the local disk', async (ctx: Ctx) => {
      if (!ctx.params.local) return;
      await ctx.exec(asRoot(ctx.state.root ?? false, sh`mkdir -p ${LOCAL_BENCH_DIR}`));
      await measureIn(ctx, LOCAL_BENCH_DIR, { transport: 'local', mode: 'local', options: 'guest disk' });
    }),
    probeStep('Measure each mount', async (ctx: Ctx) => {
      const applied = JSON.parse((await ctx.exec(readAppliedCommand)).stdout || '[]') as CompiledEntry[];
      if (!applied.length) throw new StepFailed('the box has no applied mounts to measure: apply the mount policy first');
      for (const entry of applied) {
        if (entry.readOnly) continue;
        await measureIn(ctx, entry.guestPath, { transport: entry.transport, mode: entry.mode, options: entry.units.map((u) => `${u.type}:${u.options}`).join(' ') });
      }
    }),
  ],
};

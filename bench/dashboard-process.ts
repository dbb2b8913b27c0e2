// The dashboard as production runs it, for the bench scripts that measure the process itself (start-time.ts,
// fleet-monitor.ts): a child process serving HTTP, either the compiled server (.next-server/main.mjs, what
// scripts/start.sh runs) or server/main.ts compiled on the fly by tsx (what it ran before), with its RSS read from
// /proc. Both need Next's production build (.next/, from `next build`).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '../testing/helpers/process';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export type ServerKind = 'compiled' | 'tsx';
export const SERVER_KINDS: readonly ServerKind[] = ['compiled', 'tsx'];

/** Each as scripts/start.sh runs it, now (compiled, with its memory settings) and before (tsx, none). */
const NODE_ARGS: Record<ServerKind, string[]> = {
  compiled: ['--max-semi-space-size=1', '.next-server/main.mjs'],
  tsx: ['--import', 'tsx', 'server/main.ts'],
};
const ENV: Record<ServerKind, Record<string, string>> = {
  compiled: { MALLOC_ARENA_MAX: '2' },
  tsx: {},
};

/** Builds the compiled server if a source changed (as start.sh does) and checks that Next's build is there. */
export function prepareDashboardBuilds(): void {
  execFileSync(process.execPath, ['scripts/build-server.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  if (!existsSync(join(ROOT, '.next', 'BUILD_ID'))) throw new Error('no Next build in .next/: run `npx next build` first');
}

export interface DashboardProcess {
  kind: ServerKind;
  pid: number;
  url: string;
  /** From spawn() to the first 200 of GET /api/health. */
  startToHealthyMs: number;
  /** CPU the process had used by then (user + system): what the start costs, less dependent on other load. */
  startCpuMs: number;
  /** Resident set size now (VmRSS), MB = 10^6 bytes. */
  rssMB(): number;
  /** Peak resident set size since the start (VmHWM), MB. */
  peakRssMB(): number;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/** A field of /proc/PID/status in kB, as MB. */
export function procStatusMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
  return (Number(match[1]) * 1024) / 1e6;
}

/** User + system CPU of a process so far, from /proc/PID/stat (in clock ticks of 10 ms on Linux). */
export function procCpuMs(pid: number): number {
  // The fields after the command name, which is in parentheses and may contain spaces.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Starts a dashboard on `dataDir` (an existing one, or a new folder: migrations and first admin included in the
 * time) and resolves once /api/health answers 200. `env` is added to the production environment.
 */
export async function startDashboardProcess(kind: ServerKind, dataDir: string, env: Record<string, string> = {}): Promise<DashboardProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const child = spawn(process.execPath, NODE_ARGS[kind], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_ADMIN_PASSWORD: 'dashboard-bench-password',
      ...ENV[kind],
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`the ${kind} dashboard exited (${exitCode}) before it was healthy`);
    const ok = await fetch(`${url}/api/health`).then((res) => res.ok, () => false);
    if (ok) break;
    if (performance.now() - started > 120_000) throw new Error(`the ${kind} dashboard was not healthy after 120 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const startToHealthyMs = performance.now() - started;
  const pid = child.pid!;
  const startCpuMs = procCpuMs(pid);
  return {
    kind,
    pid,
    url,
    startToHealthyMs,
    startCpuMs,
    rssMB: () => procStatusMB(pid, 'VmRSS'),
    peakRssMB: () => procStatusMB(pid, 'VmHWM'),
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      await exited;
    },
  };
}

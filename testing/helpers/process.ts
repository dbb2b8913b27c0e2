import { execFile, spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout, and the CLI as a checkout runs it (tsx on its source). */
export const REPO_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const TSX = path.join(REPO_DIR, 'node_modules', '.bin', 'tsx');
export const CLI_SOURCE = path.join(REPO_DIR, 'cli', 'boxyard.ts');
/** The CLI as laptops install it: one bundled file (scripts/build-cli.mjs, run by scripts/install.sh). */
export const CLI_BUNDLE = path.join(REPO_DIR, '.next-server', 'cli', 'boxyard.mjs');

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a real program to its end and resolves with its exit code and output (a non-zero exit is a result, not a throw). */
export function runProcess(
  file: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; maxBuffer?: number } = {},
): Promise<Ran> {
  const { env = process.env, cwd = REPO_DIR, timeoutMs = 60_000, maxBuffer } = options;
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, timeout: timeoutMs, maxBuffer }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

export interface Running {
  /** Its process id (a bench reads its CPU and RSS from /proc). */
  pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves when it exited, with its code and whole output. */
  exited: Promise<Ran>;
  /** SIGTERM unless told (SIGKILL: a crash, no clean-up). */
  kill(signal?: NodeJS.Signals): void;
}

/** Starts a real program and returns at once, its output readable while it runs (a CLI that waits for the user). */
export function startProcess(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Running {
  const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd ?? REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Ran>((resolve) => child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
  return { pid: child.pid!, stdout: () => stdout, exited, kill: (signal) => child.kill(signal) };
}

/** A port free on 127.0.0.1 right now (the kernel's pick, released at once), for a process that must be told its port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

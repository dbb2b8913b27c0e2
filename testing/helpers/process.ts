import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout, and the CLI as a checkout runs it (tsx on its source). */
export const REPO_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const TSX = path.join(REPO_DIR, 'node_modules', '.bin', 'tsx');
export const CLI_SOURCE = path.join(REPO_DIR, 'cli', 'boxyard.ts');

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

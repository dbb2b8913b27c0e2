// Test support for the driver tests: a scripted executor (their fake clock is clock.ts). The executor checks that a
// driver sends exactly the expected command lines, in order, and answers each with a given result. It stands in for
// the host, not for SSH: the SSH path itself is tested against real lab boxes (missing-tools.test.ts).
import { expect } from 'vitest';
import { AppError, type AppErrorCode } from '../../server/errors';
import type { ExecResult } from '../../server/ssh/pool';
import type { ShellCommand } from '../../server/ssh/quote';
import type { HostExec, HostExecOptions } from '../../server/hypervisors/driver';

export interface ScriptedStep {
  /** The exact ShellCommand.text the driver must send. */
  command: string;
  /** What the "host" answers; an Error is thrown instead (a timeout, a dropped connection). */
  result?: Partial<ExecResult> | Error;
}

export interface ScriptedExec extends HostExec {
  /** Every call, with the options it was given. */
  readonly calls: { command: string; options?: HostExecOptions }[];
  /** Steps not consumed yet. */
  readonly pending: ScriptedStep[];
}

export function ok(stdout = ''): Partial<ExecResult> {
  return { stdout, code: 0 };
}

export function failed(code: number, stderr: string, stdout = ''): Partial<ExecResult> {
  return { stdout, stderr, code };
}

export function scriptedExec(steps: ScriptedStep[]): ScriptedExec {
  const pending = [...steps];
  const calls: ScriptedExec['calls'] = [];
  const exec = async (command: ShellCommand, options?: HostExecOptions): Promise<ExecResult> => {
    calls.push({ command: command.text, options });
    const step = pending.shift();
    if (!step) throw new Error(`unexpected command (script exhausted): ${command.text}`);
    if (step.command !== command.text) {
      throw new Error(`unexpected command:\n  expected: ${step.command}\n  actual:   ${command.text}`);
    }
    if (step.result instanceof Error) throw step.result;
    return { stdout: '', stderr: '', code: 0, signal: null, durationMs: 1, ...step.result };
  };
  return Object.assign(exec, { calls, pending });
}

/** What SshPool.exec throws when a command outlives its timeoutMs. */
export const SSH_TIMEOUT_ERROR = new AppError('SSH_TIMEOUT', 'the command did not finish within 5 s on mini and was stopped');

/** Asserts that the promise rejects with an AppError of this code and exactly this message. */
export async function expectAppError(promise: Promise<unknown>, code: AppErrorCode, message: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  expect({ code: (error as AppError).code, message: (error as AppError).message }).toEqual({ code, message });
}

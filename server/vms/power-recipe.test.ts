import { describe, expect, it } from 'vitest';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import type { StepContext } from '../jobs/recipe';
import type { ExecResult } from '../ssh/pool';
import type { ShellCommand } from '../ssh/quote';
import { powerRecipes } from './power-recipe';

/** Reboot / power off of a plain SSH box (VPS): the exact command, a dropped connection as success, sudo in words. */
function ctxWith(answer: (command: string) => Promise<Partial<ExecResult>>) {
  const commands: string[] = [];
  const log: string[] = [];
  const ctx: StepContext<{ reason: string }, object> = {
    jobId: 'job-1',
    db: undefined as unknown as Db,
    box: { id: 'box-1', name: 'vps-1', sshUser: 'dev' },
    host: null,
    params: { reason: '' },
    state: {},
    signal: new AbortController().signal,
    exec: async (command: ShellCommand) => {
      commands.push(command.text);
      return { stdout: '', stderr: '', code: 0, signal: null, durationMs: 1, ...(await answer(command.text)) };
    },
    refreshSession: () => undefined,
    hostExec: () => Promise.reject(new Error('no host')),
    log: async (text) => {
      log.push(text);
    },
  };
  return { ctx, commands, log };
}

describe('VPS power recipes', () => {
  it('reboots with systemd, falling back to shutdown, without a password prompt', async () => {
    const { ctx, commands, log } = ctxWith(async () => ({ code: 0 }));
    const [step] = powerRecipes.reboot.steps;
    expect(await step!.check(ctx)).toBe(false);
    await step!.apply(ctx);
    expect(commands).toEqual(['sudo -n systemctl reboot || sudo -n shutdown -r now']);
    expect(log).toEqual(['vps-1 is rebooting.']);
  });

  it('a connection dropped by the going-down box is success', async () => {
    const { ctx, log } = ctxWith(() => Promise.reject(new AppError('SSH_DISCONNECTED', 'the connection to vps-1 dropped')));
    await powerRecipes.poweroff.steps[0]!.apply(ctx);
    expect(log).toEqual(['The connection dropped as the box went down.']);
  });

  it('says when sudo wants a password', async () => {
    const { ctx } = ctxWith(async () => ({ code: 1, stderr: 'sudo: a password is required\n' }));
    await expect(powerRecipes.poweroff.steps[0]!.apply(ctx)).rejects.toThrow(
      "Powering off host vps-1 needs root: allow Boxyard's SSH user to run systemctl (or shutdown) with sudo without a password.",
    );
  });
});

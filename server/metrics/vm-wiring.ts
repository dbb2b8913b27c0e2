import { systemActor } from '../audit/audit';
import { AppError } from '../errors';
import { powerRecipes } from '../vms/power-recipe';
import { ensureVmBoxRunning, requestVmAction, type VmDeps } from '../vms/vms';
import type { Actor } from '../audit/audit';
import type { AutoSuspender, ResumeBoxFn, SuspendBoxFn } from './suspend';

/** Waits for a job to finish; throws its error when it failed or was cancelled. */
async function waitForJob(jobs: VmDeps['jobs'], jobId: string, timeoutMs: number, pollMs: number): Promise<void> {
  const job = await jobs.waitFor(jobId, { timeoutMs, pollMs });
  switch (job.status) {
    case 'succeeded':
      return;
    case 'missing':
      throw new AppError('NOT_FOUND', `job ${jobId} disappeared`);
    case 'timed-out':
      throw new AppError('SSH_TIMEOUT', `job ${jobId} still ${job.last} after ${Math.round(timeoutMs / 1000)} s`);
    case 'failed':
    case 'cancelled':
      throw new AppError('REMOTE_COMMAND_FAILED', `job ${jobId} ${job.status}: ${job.error ?? 'no error recorded'}`);
  }
}

/**
 * The auto-suspend engine's actions through the VM lifecycle (server/vms) as jobs, for services.ts:
 * - suspend: a VM box -> requestVmAction 'suspend'; power-off: a VM -> 'stop', a plain box (VPS) -> the box.poweroff job.
 * - resume (resume-on-demand): ensureVmBoxRunning (resumes or starts the VM and waits for its SSH).
 * Both wait for the job, so a failure is retried and reported by the AutoSuspender.
 */
export function vmLifecycleActions(deps: VmDeps, options: { timeoutMs?: number; pollMs?: number } = {}): { suspendBox: SuspendBoxFn; resumeBox: ResumeBoxFn } {
  const timeoutMs = options.timeoutMs ?? 10 * 60_000;
  const pollMs = options.pollMs ?? 1_000;
  return {
    async suspendBox(boxId, reason, action) {
      const box = await deps.db.box.findUnique({ where: { id: boxId }, select: { id: true, name: true, vmId: true } });
      if (!box) throw new AppError('NOT_FOUND', 'That box was deleted.');
      let jobId: string;
      if (box.vmId) {
        jobId = await requestVmAction(deps, { boxId, action: action === 'suspend' ? 'suspend' : 'stop', actor: systemActor, reason });
      } else if (action === 'power-off') {
        jobId = await deps.jobs.enqueue(powerRecipes.poweroff, { box: { id: box.id, name: box.name }, actor: systemActor, params: { reason } });
      } else {
        throw new AppError('BAD_INPUT', `${box.name} is not a VM on a known hypervisor host: it cannot be suspended (use power-off for a VPS).`);
      }
      await waitForJob(deps.jobs, jobId, timeoutMs, pollMs);
    },
    async resumeBox(boxId) {
      await ensureVmBoxRunning(deps, { boxId, actor: systemActor, timeoutMs });
    },
  };
}

/**
 * Opening a terminal is demand (TerminalManager.wakeBox): a box the idle policy suspended is resumed and its marks
 * cleared; a VM box suspended or stopped by hand (the status poller no longer reaches it) is woken all the same. An
 * online box is left alone, so a hypervisor host that cannot be reached never blocks a terminal to a running VM.
 */
export async function wakeOnDemand(deps: VmDeps, suspender: Pick<AutoSuspender, 'resumeOnDemand'>, boxId: string, actor: Actor): Promise<void> {
  if ((await suspender.resumeOnDemand(boxId, actor)) === 'resumed') return;
  const box = await deps.db.box.findUnique({ where: { id: boxId }, select: { status: true, vmId: true } });
  if (!box?.vmId || box.status === 'online') return;
  await ensureVmBoxRunning(deps, { boxId, actor, reason: 'a terminal was opened' });
}

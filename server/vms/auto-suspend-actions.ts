import { systemActor } from '../audit/audit';
import { AppError } from '../errors';
import { requestVmAction, type VmDeps } from './lifecycle';
import { powerRecipes } from './power-recipe';
import { ensureVmBoxRunning } from './wake';

/** How the auto-suspend engine acts on a box (server/metrics declares them as SuspendBoxFn and ResumeBoxFn). */
export interface AutoSuspendActions {
  suspendBox(boxId: string, reason: string, action: 'suspend' | 'power-off'): Promise<void>;
  resumeBox(boxId: string, reason: string): Promise<void>;
}

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
export function vmLifecycleActions(deps: VmDeps, options: { timeoutMs?: number; pollMs?: number } = {}): AutoSuspendActions {
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

import type { Actor } from '../audit/audit';
import { AppError } from '../errors';
import { getHostRow } from '../hosts/hosts';
import { boxVm, enqueueVmAction, vmOnHost, type VmDeps } from './lifecycle';
import type { VmAction } from './rules';
import { activeVmJobs } from './steps';

/** Waking a box on demand: its VM resumed or started before a terminal opens. */

/** The auto-suspend engine's side of waking (server/metrics' AutoSuspender): a box it suspended, resumed and unmarked. */
export interface SuspendedBoxes {
  resumeOnDemand(boxId: string, actor: Actor): Promise<'resumed' | 'not-suspended'>;
}

export type EnsureRunningOutcome = 'running' | 'resumed' | 'started' | 'not-a-vm';

/**
 * For the terminal manager: make sure a box's VM runs before opening a shell. A running VM (or a box that is not a
 * VM) returns at once; a suspended or paused one is resumed and a stopped one started (a job, waiting for SSH), or
 * an action already under way is waited for. Resolves when the box answers SSH; throws an AppError with the job's
 * error otherwise, or after timeoutMs.
 */
export async function ensureVmBoxRunning(
  deps: VmDeps,
  request: { boxId: string; actor: Actor; timeoutMs?: number; pollMs?: number; reason?: string; onWaking?: (state: string) => void },
): Promise<{ outcome: EnsureRunningOutcome; jobId: string | null }> {
  const row = await deps.db.box.findUnique({ where: { id: request.boxId }, select: { vmId: true, vmHostId: true } });
  if (!row?.vmId || !row.vmHostId) return { outcome: 'not-a-vm', jobId: null };
  const box = await boxVm(deps.db, request.boxId);
  const host = await getHostRow(deps.db, box.vmHostId);
  const [active] = await activeVmJobs(deps.db, host.id, box.vmId);
  let jobId: string;
  let outcome: EnsureRunningOutcome;
  if (active) {
    jobId = active.id;
    outcome = active.kind === 'vm.start' ? 'started' : 'resumed';
    request.onWaking?.(active.kind === 'vm.start' ? 'starting' : 'waking');
  } else {
    const vm = await vmOnHost(deps, host, box.vmId, request.actor, box.name);
    if (vm.state === 'running') return { outcome: 'running', jobId: null };
    const action: VmAction = vm.state === 'stopped' ? 'start' : 'resume';
    request.onWaking?.(vm.state);
    ({ jobId } = await enqueueVmAction(
      deps,
      { hostId: host.id, vmId: vm.id, boxId: box.id, action, actor: request.actor, waitForSsh: true, reason: request.reason ?? 'a terminal was opened' },
      vm,
    ));
    outcome = action === 'start' ? 'started' : 'resumed';
  }
  const job = await deps.jobs.waitFor(jobId, { timeoutMs: request.timeoutMs ?? 240_000, pollMs: request.pollMs ?? 200 });
  switch (job.status) {
    case 'succeeded':
      return { outcome, jobId };
    case 'failed':
      throw new AppError('REMOTE_COMMAND_FAILED', `Could not wake ${box.name}: ${job.error ?? 'the job failed'}`);
    case 'timed-out':
      throw new AppError('SSH_TIMEOUT', `${box.name} did not wake up in time (job ${jobId} is still ${job.last}).`);
    case 'cancelled':
    case 'missing':
      throw new AppError('CONFLICT', `Waking ${box.name} was cancelled.`);
  }
}

export interface WakeOptions {
  /** Why, in the job's reason; default "a terminal was opened". */
  reason?: string;
  /** Told the box's state once it turns out the box must be woken (a tunnel shows it to the laptop). */
  onWaking?: (state: string) => void;
}

/**
 * Opening a terminal or a tunnel is demand (TerminalManager.wakeBox, TunnelService.wakeBox): a box the idle policy
 * suspended is resumed and its marks cleared; a VM box suspended or stopped by hand (the status poller no longer
 * reaches it) is woken all the same. An online box is left alone, so a hypervisor host that cannot be reached never
 * blocks a terminal to a running VM.
 */
export async function wakeOnDemand(deps: VmDeps, suspender: SuspendedBoxes, boxId: string, actor: Actor, options: WakeOptions = {}): Promise<void> {
  const marked = await deps.db.box.findUnique({ where: { id: boxId }, select: { autoSuspendedAt: true } });
  if (marked?.autoSuspendedAt) options.onWaking?.('suspended');
  if ((await suspender.resumeOnDemand(boxId, actor)) === 'resumed') return;
  const box = await deps.db.box.findUnique({ where: { id: boxId }, select: { status: true, vmId: true } });
  if (!box?.vmId || box.status === 'online') return;
  await ensureVmBoxRunning(deps, { boxId, actor, reason: options.reason ?? 'a terminal was opened', onWaking: options.onWaking });
}

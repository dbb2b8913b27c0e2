import { z } from 'zod';
import type { Actor } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { recordId } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { getHostRow, type HostRow } from '../hosts/hosts';
import type { HostRemote } from '../hosts/remote';
import { lookUpVm } from '../hypervisors/common';
import type { VmInfo } from '../hypervisors/driver';
import { capabilitiesOf } from '../hypervisors/factory';
import type { JobRunner } from '../jobs/runner';
import { lifecycleRecipes } from './lifecycle-recipes';
import { refusal, vmActions, type VmAction } from './rules';
import { vmGoneMessage, vmJobKey } from './steps';

/**
 * VM lifecycle requests, for the API and for other parts of the dashboard (auto-suspend, terminals): every action is
 * a job (see lifecycle-recipes.ts), refused at once when the VM's state does not allow it or another action on the
 * same VM is queued or running.
 */

export interface VmDeps {
  db: Db;
  jobs: Pick<JobRunner, 'enqueue' | 'cancel' | 'waitFor'>;
  hostRemote: Pick<HostRemote, 'listVms' | 'withDriver'>;
}

export interface VmActionRequest {
  hostId: string;
  vmId: string;
  action: VmAction;
  actor: Actor;
  /** The box the VM is, when known (found by vmHostId/vmId otherwise). */
  boxId?: string | null;
  stopTimeoutSeconds?: number;
  waitForSsh?: boolean;
  reason?: string;
}

const kindWords: Record<string, string> = {
  'vm.start': 'starting',
  'vm.stop': 'stopping',
  'vm.suspend': 'suspending',
  'vm.resume': 'resuming',
  'vm.restart': 'restarting',
  'vm.pause': 'pausing',
};

function busyMessage(vmName: string, job: { id: string; kind: string; createdByEmail: string | null; status: string }): string {
  const who = job.createdByEmail ?? 'the dashboard';
  return `${who} is already ${kindWords[job.kind] ?? 'acting on'} ${vmName} (job ${job.id}, ${job.status}); wait for it to finish or cancel it, then try again.`;
}

/** The VM as its host lists it now; NOT_FOUND when it is gone, BAD_INPUT on a host without VMs. */
export async function vmOnHost(deps: Pick<VmDeps, 'hostRemote'>, host: HostRow, vmId: string, actor: Actor, knownName?: string): Promise<VmInfo> {
  if (!capabilitiesOf(host.kind).vms) {
    throw new AppError('BAD_INPUT', `host ${host.name} is a plain SSH machine without a hypervisor: it has no VMs to act on.`);
  }
  const vm = await deps.hostRemote.withDriver(host.id, actor, 'vms', (driver) => lookUpVm(driver, { id: vmId, name: knownName ?? vmId }));
  if (!vm) {
    const message = vmGoneMessage(knownName ?? vmId, host.name);
    throw new AppError('NOT_FOUND', `${message[0]!.toUpperCase()}${message.slice(1)}.`);
  }
  return vm;
}

/**
 * Queues one lifecycle action on a VM and returns the job id. Refuses (CONFLICT) when the state does not allow it,
 * and when another lifecycle job on the same VM is queued or running: the jobs share an exclusive key, so of two
 * requests at the same moment exactly one is queued, on SQLite and PostgreSQL alike. The job's first step checks once more.
 */
export async function enqueueVmAction(deps: VmDeps, request: VmActionRequest, known?: VmInfo): Promise<{ jobId: string; vm: VmInfo }> {
  const { db } = deps;
  const host = await getHostRow(db, request.hostId);
  const boxRow = request.boxId
    ? await db.box.findUnique({ where: { id: request.boxId }, select: { id: true, name: true, vmId: true } })
    : await db.box.findFirst({ where: { vmHostId: host.id, vmId: request.vmId }, select: { id: true, name: true, vmId: true } });
  // `known`: the caller looked a moment ago (ensureVmBoxRunning); the job's own check looks again anyway.
  const vm = known?.id === request.vmId ? known : await vmOnHost(deps, host, request.vmId, request.actor, boxRow?.name);
  const refused = refusal(request.action, vm.name, vm.state);
  if (refused) throw new AppError('CONFLICT', refused);
  if (request.action === 'pause' && !capabilitiesOf(host.kind).pause) throw new AppError('BAD_INPUT', `host ${host.name} cannot pause VMs.`);

  const recipe = lifecycleRecipes[request.action];
  const jobId = await deps.jobs.enqueue(recipe, {
    box: boxRow ? { id: boxRow.id, name: boxRow.name } : null,
    host: { id: host.id, name: host.name },
    actor: request.actor,
    params: {
      vmId: vm.id,
      vmName: vm.name,
      stopTimeoutSeconds: request.stopTimeoutSeconds,
      waitForSsh: request.waitForSsh ?? false,
      reason: request.reason ?? '',
    },
    exclusive: { key: vmJobKey(host.id, vm.id), busy: (holder) => busyMessage(vm.name, holder) },
  });
  return { jobId, vm };
}

/** The box's VM (host and id), or a plain refusal for a box that is not a VM Boxyard can drive. */
export async function boxVm(db: Db, boxId: string) {
  const box = await db.box.findUnique({ where: { id: boxId }, select: { id: true, name: true, vmHostId: true, vmId: true } });
  if (!box) throw new AppError('NOT_FOUND', 'No such box; it may have been deleted.');
  if (!box.vmId) throw new AppError('BAD_INPUT', `${box.name} is not a VM on a hypervisor host known to Boxyard.`);
  if (!box.vmHostId) throw new AppError('BAD_INPUT', `The host that ran ${box.name}'s VM was removed from Boxyard; add the host again and re-import the VM.`);
  return { ...box, vmId: box.vmId, vmHostId: box.vmHostId };
}

/**
 * For the auto-suspend engine (server/metrics) and other server code: queue suspend/resume/stop of a box's VM as
 * `actor` (e.g. systemActor), with a reason for the log and audit. Returns the job id; throws AppError (CONFLICT:
 * state does not allow it or another action is under way; BAD_INPUT: the box is not a VM; NOT_FOUND: the VM is
 * gone from its host).
 */
export async function requestVmAction(
  deps: VmDeps,
  request: { boxId: string; action: 'suspend' | 'resume' | 'stop'; actor: Actor; reason: string; stopTimeoutSeconds?: number },
): Promise<string> {
  const { jobId } = await enqueueBoxVmAction(deps, request.boxId, {
    action: request.action,
    actor: request.actor,
    reason: request.reason,
    stopTimeoutSeconds: request.stopTimeoutSeconds,
    waitForSsh: request.action === 'resume',
  });
  return jobId;
}

/** A lifecycle job on the VM behind a box. */
async function enqueueBoxVmAction(deps: VmDeps, boxId: string, request: Omit<VmActionRequest, 'hostId' | 'vmId' | 'boxId'>) {
  const box = await boxVm(deps.db, boxId);
  return enqueueVmAction(deps, { hostId: box.vmHostId, vmId: box.vmId, boxId: box.id, ...request });
}

export const stopTimeoutSeconds = z.coerce.number().int('Whole seconds.').min(2, 'At least 2 s.').max(3600, 'At most an hour.');

export const hostVmActionInput = z.object({
  hostId: recordId,
  vmId: z.string().min(1).max(200),
  action: z.enum(vmActions),
  stopTimeoutSeconds: stopTimeoutSeconds.optional(),
});

export const boxVmActionInput = z.object({
  boxId: recordId,
  action: z.enum(vmActions),
  stopTimeoutSeconds: stopTimeoutSeconds.optional(),
});

export function hostVmAction(deps: VmDeps, admin: SessionUser, input: z.output<typeof hostVmActionInput>) {
  return enqueueVmAction(deps, { ...input, actor: admin }).then(({ jobId }) => ({ jobId }));
}

/** Anyone who may reach the box may start, stop, suspend and resume its VM (audited with their name). */
export async function boxVmAction(deps: VmDeps, user: SessionUser, input: z.output<typeof boxVmActionInput>) {
  const box = await getBoxRow(deps.db, user, input.boxId);
  const { jobId } = await enqueueBoxVmAction(deps, box.id, { action: input.action, actor: user, stopTimeoutSeconds: input.stopTimeoutSeconds });
  return { jobId };
}

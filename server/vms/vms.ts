import { z } from 'zod';
import type { Actor } from '../audit/audit';
import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { createBox, getBoxRow } from '../boxes/boxes';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { getHostRow, type HostRow } from '../hosts/hosts';
import type { HostRemote } from '../hosts/remote';
import type { VmInfo, VmState } from '../hypervisors/driver';
import { parseJobParams } from '../jobs/recipe';
import type { JobRunner } from '../jobs/runner';
import { activeJobStatuses } from '../jobs/status';
import { boxAuth, boxName, hostAddress, sshPort, sshUser, tag } from '../../lib/validation';
import { cloneAddress, cloneNameTaken, cloneRecipe } from './clone-recipe';
import { lifecycleRecipes } from './lifecycle-recipes';
import { powerActions, powerRecipes } from './power-recipe';
import { describeState } from '../hypervisors/common';
import { availableActions, driverCanPause, refusal, vmActions, type VmAction } from './rules';
import { activeVmJobs, lookUpVm, vmGoneMessage, vmJobKey } from './steps';

/**
 * VM lifecycle for the API and for other parts of the dashboard (auto-suspend, terminals): every action is a job
 * (see lifecycle-recipes.ts), refused at once when the VM's state does not allow it or another action on the same
 * VM is queued or running.
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

async function vmOnHost(deps: VmDeps, host: HostRow, vmId: string, actor: Actor, knownName?: string): Promise<VmInfo> {
  if (host.kind === 'ssh') {
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
  if (request.action === 'pause' && !driverCanPause(host.kind)) throw new AppError('BAD_INPUT', `host ${host.name} cannot pause VMs.`);

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
async function boxVm(db: Db, boxId: string) {
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

export type EnsureRunningOutcome = 'running' | 'resumed' | 'started' | 'not-a-vm';

/**
 * For the terminal manager: make sure a box's VM runs before opening a shell. A running VM (or a box that is not a
 * VM) returns at once; a suspended or paused one is resumed and a stopped one started (a job, waiting for SSH), or
 * an action already under way is waited for. Resolves when the box answers SSH; throws an AppError with the job's
 * error otherwise, or after timeoutMs.
 */
export async function ensureVmBoxRunning(
  deps: VmDeps,
  request: { boxId: string; actor: Actor; timeoutMs?: number; pollMs?: number; reason?: string },
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
  } else {
    const vm = await vmOnHost(deps, host, box.vmId, request.actor, box.name);
    if (vm.state === 'running') return { outcome: 'running', jobId: null };
    const action: VmAction = vm.state === 'stopped' ? 'start' : 'resume';
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

// ---- For the API ----

export const stopTimeoutSeconds = z.coerce.number().int('Whole seconds.').min(2, 'At least 2 s.').max(3600, 'At most an hour.');

export const hostVmActionInput = z.object({
  hostId: z.string().min(1).max(64),
  vmId: z.string().min(1).max(200),
  action: z.enum(vmActions),
  stopTimeoutSeconds: stopTimeoutSeconds.optional(),
});

export const boxVmActionInput = z.object({
  boxId: z.string().min(1).max(64),
  action: z.enum(vmActions),
  stopTimeoutSeconds: stopTimeoutSeconds.optional(),
});

export function hostVmAction(deps: VmDeps, admin: SessionUser, input: z.output<typeof hostVmActionInput>) {
  return enqueueVmAction(deps, { ...input, actor: admin }).then(({ jobId }) => ({ jobId }));
}

/** Anyone who may reach the box may start, stop, suspend and resume its VM (audited with their name). */
export async function boxVmAction(deps: VmDeps, user: SessionUser, input: z.output<typeof boxVmActionInput>) {
  await getBoxRow(deps.db, user, input.boxId);
  const { jobId } = await enqueueBoxVmAction(deps, input.boxId, { action: input.action, actor: user, stopTimeoutSeconds: input.stopTimeoutSeconds });
  return { jobId };
}

export interface ActiveVmJob {
  id: string;
  kind: string;
  status: string;
  createdByEmail: string | null;
}

export interface VmRow extends VmInfo {
  actions: VmAction[];
  activeJob: ActiveVmJob | null;
  box: { id: string; name: string } | null;
}

/** The host's VMs, each with the actions its state allows, the lifecycle job under way and the box it is. */
export async function hostVms(deps: VmDeps, admin: SessionUser, hostId: string): Promise<VmRow[]> {
  const host = await getHostRow(deps.db, hostId);
  const vms = await deps.hostRemote.listVms(host.id, admin);
  const [jobs, boxes] = await Promise.all([
    deps.db.job.findMany({
      where: { hostId: host.id, kind: { startsWith: 'vm.' }, status: { in: [...activeJobStatuses] } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      select: { id: true, kind: true, status: true, createdByEmail: true, vmId: true, params: true },
    }),
    deps.db.box.findMany({ where: { vmHostId: host.id }, select: { id: true, name: true, vmId: true } }),
  ]);
  return vms.map((vm) => {
    const job = jobs.find((candidate) => candidate.vmId === vm.id || cloneTemplateName(candidate) === vm.name);
    const box = boxes.find((candidate) => candidate.vmId === vm.id);
    return {
      ...vm,
      actions: job ? [] : availableActions(vm.state, { canPause: driverCanPause(host.kind) }),
      activeJob: job ? { id: job.id, kind: job.kind, status: job.status, createdByEmail: job.createdByEmail } : null,
      box: box ? { id: box.id, name: box.name } : null,
    };
  });
}

/** A clone job keeps its template busy (virt-clone needs it shut off). */
function cloneTemplateName(job: { kind: string; params: string }): string | null {
  if (job.kind !== cloneRecipe.kind) return null;
  const parsed = parseJobParams(cloneRecipe, job.params);
  return parsed.ok ? parsed.params.templateName : null;
}

export interface BoxVmStatus {
  host: { id: string; name: string; kind: string } | null;
  vmId: string;
  vm: (VmInfo & { stateText: string }) | null;
  /** Why the VM cannot be shown (deleted on the host, host unreachable...), in plain words. */
  problem: string | null;
  actions: VmAction[];
  activeJob: ActiveVmJob | null;
}

/** The VM card of a box page; null for a box that is not a VM. Never throws for a VM or host that went away. */
export async function boxVmStatus(deps: VmDeps, user: SessionUser, boxId: string): Promise<BoxVmStatus | null> {
  const box = await getBoxRow(deps.db, user, boxId);
  if (!box.vmId) return null;
  if (!box.vmHostId) {
    return { host: null, vmId: box.vmId, vm: null, problem: 'The host that runs this VM was removed from Boxyard.', actions: [], activeJob: null };
  }
  const host = await getHostRow(deps.db, box.vmHostId);
  const hostView = { id: host.id, name: host.name, kind: host.kind };
  const [active] = await activeVmJobs(deps.db, host.id, box.vmId);
  const activeJob = active ? { id: active.id, kind: active.kind, status: active.status, createdByEmail: active.createdByEmail } : null;
  let vm: VmInfo | null;
  try {
    const ref = { id: box.vmId, name: box.name };
    vm = await deps.hostRemote.withDriver(host.id, user, 'vms', (driver) => lookUpVm(driver, ref));
  } catch (error) {
    if (!isAppError(error)) throw error;
    return { host: hostView, vmId: box.vmId, vm: null, problem: `Cannot ask host ${host.name}: ${error.message}`, actions: [], activeJob };
  }
  if (!vm) {
    const message = vmGoneMessage(box.name, host.name);
    return { host: hostView, vmId: box.vmId, vm: null, problem: `${message[0]!.toUpperCase()}${message.slice(1)}.`, actions: [], activeJob };
  }
  return {
    host: hostView,
    vmId: box.vmId,
    vm: { ...vm, stateText: describeState(vm.state as VmState) },
    problem: null,
    actions: activeJob ? [] : availableActions(vm.state, { canPause: driverCanPause(host.kind) }),
    activeJob,
  };
}

// ---- Import a VM as a box ----

export const importVmInput = z.object({
  hostId: z.string().min(1).max(64),
  vmId: z.string().min(1).max(200),
  name: boxName,
  sshUser,
  /** Empty host: ask the hypervisor for the guest's IP. */
  address: z.object({ host: z.union([hostAddress, z.literal('')]).default(''), port: sshPort.default(22) }),
  auth: boxAuth.default({ method: 'dashboard-key' }),
  tags: z.array(tag).max(20).default([]),
});

export async function importVmAsBox(deps: VmDeps & { secrets: SecretBox }, admin: SessionUser, input: z.output<typeof importVmInput>) {
  const host = await getHostRow(deps.db, input.hostId);
  const vm = await vmOnHost(deps, host, input.vmId, admin);
  const already = await deps.db.box.findFirst({ where: { vmHostId: host.id, vmId: vm.id }, select: { name: true } });
  if (already) throw new AppError('CONFLICT', `${vm.name} is already the box ${already.name}.`);
  let address = input.address.host;
  if (address === '') {
    const ip = vm.ip ?? (await deps.hostRemote.withDriver(host.id, admin, 'guest-ip', (driver) => driver.guestIp(vm)));
    if (!ip) {
      throw new AppError(
        'BAD_INPUT',
        `host ${host.name} cannot tell ${vm.name}'s address${vm.state === 'running' ? '' : ` (it is ${describeState(vm.state)})`}: enter the SSH address and port by hand.`,
      );
    }
    address = ip;
  }
  const box = await createBox(deps.db, deps.secrets, admin, {
    name: input.name,
    host: address,
    port: input.address.port,
    sshUser: input.sshUser,
    tags: input.tags,
    notes: `VM ${vm.name} on host ${host.name}`,
    memberIds: [],
    auth: input.auth,
  });
  await deps.db.box.update({ where: { id: box.id }, data: { vmHostId: host.id, vmId: vm.id } });
  await recordAudit(deps.db, {
    actor: admin,
    action: 'box.import-vm',
    box: { id: box.id, name: box.name },
    detail: { hostId: host.id, hostName: host.name, vmId: vm.id, vmName: vm.name, host: address, port: input.address.port, sshUser: input.sshUser },
    result: 'ok',
  });
  return { boxId: box.id, host: address, port: input.address.port };
}

// ---- New box from a template ----

export const newBoxFromTemplateInput = z.object({
  hostId: z.string().min(1).max(64),
  templateId: z.string().min(1).max(200),
  /** The box's name, also the new VM's name. */
  name: boxName,
  cpus: z.coerce.number().int().min(1).max(1024).optional(),
  memoryMiB: z.coerce.number().int().min(64).optional(),
  sshUser,
  /** Empty host: ask the hypervisor for the guest's IP once it runs. */
  address: z.object({ host: z.union([hostAddress, z.literal('')]).default(''), port: sshPort.default(22) }),
  auth: boxAuth.default({ method: 'dashboard-key' }),
  provisionDocker: z.boolean().default(false),
  sshTimeoutSeconds: z.coerce.number().int().min(5).max(1800).default(300),
});

/**
 * Makes the box up front (so it shows in the fleet while the job runs; the job fills in its VM and address) and
 * queues the clone job. Name clashes (box or VM) are refused before anything is made.
 */
export async function newBoxFromTemplate(deps: VmDeps & { secrets: SecretBox }, admin: SessionUser, input: z.output<typeof newBoxFromTemplateInput>) {
  const host = await getHostRow(deps.db, input.hostId);
  if (host.kind === 'ssh') throw new AppError('BAD_INPUT', `host ${host.name} has no hypervisor to clone VMs with.`);
  const vms = await deps.hostRemote.listVms(host.id, admin);
  const template = vms.find((vm) => vm.id === input.templateId);
  if (!template) throw new AppError('NOT_FOUND', `The template VM no longer exists on host ${host.name}.`);
  if (vms.some((vm) => vm.name === input.name)) throw cloneNameTaken(input.name, host.name);
  const manual = input.address.host !== '';
  const box = await createBox(deps.db, deps.secrets, admin, {
    name: input.name,
    // Until the job finds the guest's address: nothing listens on 0.0.0.0's port... the job sets the real one.
    host: manual ? input.address.host : '0.0.0.0',
    port: input.address.port,
    sshUser: input.sshUser,
    tags: [],
    notes: `Cloned from ${template.name} on host ${host.name}`,
    memberIds: [],
    auth: input.auth,
  });
  await deps.db.box.update({ where: { id: box.id }, data: { vmHostId: host.id } });
  await recordAudit(deps.db, {
    actor: admin,
    action: 'box.create',
    box: { id: box.id, name: box.name },
    detail: { from: 'template', hostId: host.id, hostName: host.name, templateId: template.id, templateName: template.name },
    result: 'ok',
  });
  const address: z.input<typeof cloneAddress> = manual ? { mode: 'manual', host: input.address.host, port: input.address.port } : { mode: 'guest-ip', port: input.address.port };
  const jobId = await deps.jobs.enqueue(cloneRecipe, {
    box: { id: box.id, name: box.name },
    host: { id: host.id, name: host.name },
    actor: admin,
    params: {
      templateId: template.id,
      templateName: template.name,
      vmName: input.name,
      cpus: input.cpus,
      memoryMiB: input.memoryMiB,
      address,
      sshTimeoutSeconds: input.sshTimeoutSeconds,
      provisionDocker: input.provisionDocker,
    },
  });
  return { jobId, boxId: box.id };
}

// ---- Plain SSH boxes (VPS) ----

export const boxPowerInput = z.object({
  boxId: z.string().min(1).max(64),
  action: z.enum(powerActions),
  /** The box's name typed back by the user. */
  confirmName: z.string().max(100),
});

/** Reboot or power off a plain SSH box from inside (a VM box uses its hypervisor's actions instead). */
export async function boxPower(deps: VmDeps, user: SessionUser, input: z.output<typeof boxPowerInput>) {
  const box = await getBoxRow(deps.db, user, input.boxId);
  if (box.vmId) throw new AppError('BAD_INPUT', `${box.name} is a VM: use its stop or restart instead, through its host.`);
  if (input.confirmName !== box.name) throw new AppError('BAD_INPUT', `Type the box's name (${box.name}) to confirm.`);
  const jobId = await deps.jobs.enqueue(powerRecipes[input.action], {
    box: { id: box.id, name: box.name },
    actor: user,
    params: {},
    exclusive: { key: `box-power:${box.id}`, busy: (holder) => `${box.name} is already being rebooted or powered off (job ${holder.id}).` },
  });
  return { jobId };
}

/** Every recipe of this module, for the job runner (services.ts). */
export const vmRecipes = [...Object.values(lifecycleRecipes), cloneRecipe, ...Object.values(powerRecipes)];

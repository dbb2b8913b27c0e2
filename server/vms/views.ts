import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import { isAppError } from '../errors';
import { getHostRow } from '../hosts/hosts';
import { describeState, lookUpVm } from '../hypervisors/common';
import type { VmInfo, VmState } from '../hypervisors/driver';
import { capabilitiesOf } from '../hypervisors/factory';
import { parseJobParams } from '../jobs/recipe';
import { activeJobStatuses } from '../../lib/job-status';
import { cloneRecipe } from './clone-recipe';
import type { VmDeps } from './lifecycle';
import { availableActions, type VmAction } from './rules';
import { activeVmJobs, vmGoneMessage } from './steps';

/** What the browser shows of VMs: a host's VM list and a box's VM card, each with the actions its state allows. */

/** Reading VMs needs no jobs. */
type VmViewDeps = Pick<VmDeps, 'db' | 'hostRemote'>;

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
export async function hostVms(deps: VmViewDeps, admin: SessionUser, hostId: string): Promise<VmRow[]> {
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
      actions: job ? [] : availableActions(vm.state, { canPause: capabilitiesOf(host.kind).pause }),
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
export async function boxVmStatus(deps: VmViewDeps, user: SessionUser, boxId: string): Promise<BoxVmStatus | null> {
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
    actions: activeJob ? [] : availableActions(vm.state, { canPause: capabilitiesOf(host.kind).pause }),
    activeJob,
  };
}

import { z } from 'zod';
import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import type { SecretBox } from '../crypto/secret-box';
import { AppError } from '../errors';
import { getHostRow } from '../hosts/hosts';
import { capabilitiesOf } from '../hypervisors/factory';
import type { JobRunner } from '../jobs/runner';
import { boxAuth, boxName, hostAddress, recordId, sshPort, sshUser } from '../../lib/validation';
import { cloneAddress, cloneNameTaken, cloneRecipe } from './clone-recipe';
import type { VmDeps } from './lifecycle';

/** A new box cloned from a template VM on a host (the clone itself is a job: clone-recipe.ts). */

export const newBoxFromTemplateInput = z.object({
  hostId: recordId,
  templateId: z.string().min(1).max(200),
  /** The box's name, also the new VM's name. */
  name: boxName,
  cpus: z.coerce.number().int().min(1).max(1024).optional(),
  memoryMiB: z.coerce.number().int().min(64).max(16 * 1024 * 1024, 'At most 16 TiB of memory.').optional(),
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
export async function newBoxFromTemplate(deps: Pick<VmDeps, 'db' | 'hostRemote'> & { jobs: Pick<JobRunner, 'enqueue'>; secrets: SecretBox }, admin: SessionUser, input: z.output<typeof newBoxFromTemplateInput>) {
  const host = await getHostRow(deps.db, input.hostId);
  if (!capabilitiesOf(host.kind).vms) throw new AppError('BAD_INPUT', `host ${host.name} has no hypervisor to clone VMs with.`);
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

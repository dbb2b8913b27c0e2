import { z } from 'zod';
import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { createBox } from '../boxes/boxes';
import type { SecretBox } from '../crypto/secret-box';
import { AppError } from '../errors';
import { getHostRow } from '../hosts/hosts';
import { describeState } from '../hypervisors/common';
import { boxAuth, boxName, hostAddress, recordId, sshPort, sshUser, tag } from '../../lib/validation';
import { vmOnHost, type VmDeps } from './lifecycle';

/** An existing VM on a host becomes a box: its SSH address given or asked of the hypervisor. */

export const importVmInput = z.object({
  hostId: recordId,
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

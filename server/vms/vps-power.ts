import { z } from 'zod';
import type { SessionUser } from '../boxes/access';
import { recordId } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import { AppError } from '../errors';
import type { JobRunner } from '../jobs/runner';
import type { VmDeps } from './lifecycle';
import { boxPowerJobKey, powerActions, powerRecipes } from './power-recipe';

/** Plain SSH boxes (VPS): reboot or power off from inside, as a job (power-recipe.ts). */

export const boxPowerInput = z.object({
  boxId: recordId,
  action: z.enum(powerActions),
  /** The box's name typed back by the user. */
  confirmName: z.string().max(100),
});

/** Reboot or power off a plain SSH box from inside (a VM box uses its hypervisor's actions instead). */
export async function boxPower(deps: Pick<VmDeps, 'db'> & { jobs: Pick<JobRunner, 'enqueue'> }, user: SessionUser, input: z.output<typeof boxPowerInput>) {
  const box = await getBoxRow(deps.db, user, input.boxId);
  if (box.vmId) throw new AppError('BAD_INPUT', `${box.name} is a VM: use its stop or restart instead, through its host.`);
  if (input.confirmName !== box.name) throw new AppError('BAD_INPUT', `Type the box's name (${box.name}) to confirm.`);
  const jobId = await deps.jobs.enqueue(powerRecipes[input.action], {
    box: { id: box.id, name: box.name },
    actor: user,
    params: {},
    exclusive: { key: boxPowerJobKey(box.id), busy: (holder) => `${box.name} is already being rebooted or powered off (job ${holder.id}).` },
  });
  return { jobId };
}

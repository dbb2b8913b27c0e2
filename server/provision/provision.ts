import type { z } from 'zod';
import { boxIdInput } from '../../lib/validation';
import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import type { Db } from '../db/client';
import type { JobRunner } from '../jobs/runner';
import { dockerJobKey, dockerParams, dockerRecipe } from './docker-recipe';

export const provisionDockerInput = dockerParams.extend(boxIdInput.shape);

/** Queues Docker provisioning of a box; one at a time per box, since two would fight over its package manager. */
export async function provisionDocker(
  deps: { db: Db; jobs: JobRunner },
  actor: SessionUser,
  input: z.input<typeof provisionDockerInput>,
): Promise<{ jobId: string }> {
  const { boxId, ...params } = input;
  const box = await getBoxRow(deps.db, actor, boxId);
  const jobId = await deps.jobs.enqueue(dockerRecipe, {
    box: { id: box.id, name: box.name },
    actor,
    params,
    exclusive: {
      key: dockerJobKey(box.id),
      busy: (holder) => `Docker provisioning is already ${holder.status} on ${box.name} (job ${holder.id}); wait for it or cancel it first.`,
    },
  });
  return { jobId };
}

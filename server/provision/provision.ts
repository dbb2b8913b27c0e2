import type { z } from 'zod';
import { boxIdInput } from '../../lib/validation';
import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import type { JobRunner } from '../jobs/runner';
import { dockerParams, dockerRecipe } from './docker-recipe';

export const provisionDockerInput = dockerParams.extend(boxIdInput.shape);

/** Queues Docker provisioning of a box; one at a time per box, since two would fight over its package manager. */
export async function provisionDocker(
  deps: { db: Db; jobs: JobRunner },
  actor: SessionUser,
  input: z.input<typeof provisionDockerInput>,
): Promise<{ jobId: string }> {
  const { boxId, ...params } = input;
  const box = await getBoxRow(deps.db, actor, boxId);
  const busy = await deps.db.job.findFirst({
    where: { boxId: box.id, kind: dockerRecipe.kind, status: { in: ['queued', 'running'] } },
    select: { id: true },
  });
  if (busy) throw new AppError('CONFLICT', `Docker provisioning is already queued or running on ${box.name}; wait for it or cancel it first.`);
  const jobId = await deps.jobs.enqueue(dockerRecipe, { box: { id: box.id, name: box.name }, actor, params });
  return { jobId };
}

import { z } from 'zod';
import { recordId, tag } from '../../lib/validation';
import type { Db } from '../db/client';
import { AppError } from '../errors';

/** Suspend policies as admins edit them (the AutoSuspender in suspend.ts applies them): one per box or per tag. */

export const policyInput = z
  .object({
    boxId: recordId.optional(),
    tag: tag.optional(),
    idleMinutes: z.number().int().min(1).max(7 * 24 * 60),
    action: z.enum(['suspend', 'power-off', 'none']),
    enabled: z.boolean().default(true),
  })
  .refine((p) => (p.boxId === undefined) !== (p.tag === undefined), { message: 'Give either a box or a tag, not both.' });
export type PolicyInput = z.output<typeof policyInput>;

/** Every policy, oldest first, with the name of its box (null for a tag policy). */
export async function listPolicies(db: Db) {
  const [policies, boxes] = await Promise.all([
    db.suspendPolicy.findMany({ orderBy: { createdAt: 'asc' } }),
    db.box.findMany({ select: { id: true, name: true } }),
  ]);
  const names = new Map(boxes.map((b) => [b.id, b.name]));
  return policies.map((p) => ({ ...p, boxName: p.boxId ? (names.get(p.boxId) ?? null) : null }));
}

/** Creates or replaces the policy of a box or a tag. */
export async function savePolicy(db: Db, input: PolicyInput) {
  if (input.boxId && !(await db.box.findUnique({ where: { id: input.boxId } }))) throw new AppError('NOT_FOUND', 'That box was deleted.');
  const data = { idleMinutes: input.idleMinutes, action: input.action, enabled: input.enabled };
  return input.boxId
    ? db.suspendPolicy.upsert({ where: { boxId: input.boxId }, create: { boxId: input.boxId, ...data }, update: data })
    : db.suspendPolicy.upsert({ where: { tag: input.tag! }, create: { tag: input.tag!, ...data }, update: data });
}

export async function deletePolicy(db: Db, id: string): Promise<void> {
  const deleted = await db.suspendPolicy.deleteMany({ where: { id } });
  if (!deleted.count) throw new AppError('NOT_FOUND', 'No such policy.');
}

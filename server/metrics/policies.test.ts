// Suspend policies as the admin page edits them (metrics.policies, savePolicy, deletePolicy), without tRPC.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/client';
import { testDatabases } from '../../testing/helpers/databases';
import { deletePolicy, listPolicies, policyInput, savePolicy } from './policies';
import { seededMetricsDatabase } from '../../testing/helpers/metrics';

describe('suspend policies', () => {
  const newDatabase = testDatabases('sqlite', 'policies');
  let db: Db;
  let boxId: string;

  beforeAll(async () => {
    let addBox: (name: string) => Promise<string>;
    ({ db, addBox } = await seededMetricsDatabase(newDatabase));
    boxId = await addBox('web-1');
  });

  afterAll(async () => {
    await db.$disconnect();
  });

  it('a policy names a box or a tag, not both and not neither', () => {
    expect(policyInput.safeParse({ boxId: 'b', tag: 't', idleMinutes: 5, action: 'suspend' }).success).toBe(false);
    expect(policyInput.safeParse({ idleMinutes: 5, action: 'suspend' }).success).toBe(false);
    expect(policyInput.parse({ tag: 'laptop', idleMinutes: 5, action: 'suspend' })).toEqual({ tag: 'laptop', idleMinutes: 5, action: 'suspend', enabled: true });
  });

  it('saves one policy per box and per tag (saving again replaces it), lists them oldest first with the box name, deletes', async () => {
    const forBox = await savePolicy(db, policyInput.parse({ boxId, idleMinutes: 30, action: 'suspend' }));
    const forTag = await savePolicy(db, policyInput.parse({ tag: 'laptop', idleMinutes: 10, action: 'power-off' }));
    const replaced = await savePolicy(db, policyInput.parse({ boxId, idleMinutes: 45, action: 'none', enabled: false }));
    expect(replaced.id).toBe(forBox.id);
    expect(await listPolicies(db)).toMatchObject([
      { id: forBox.id, boxId, boxName: 'web-1', idleMinutes: 45, action: 'none', enabled: false },
      { id: forTag.id, tag: 'laptop', boxName: null, idleMinutes: 10, action: 'power-off', enabled: true },
    ]);
    await deletePolicy(db, forTag.id);
    await expect(deletePolicy(db, forTag.id)).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'No such policy.' });
    expect((await listPolicies(db)).map((p) => p.id)).toEqual([forBox.id]);
  });

  it('refuses a policy for a box that is gone', async () => {
    await expect(savePolicy(db, policyInput.parse({ boxId: 'deleted-box', idleMinutes: 5, action: 'suspend' }))).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: 'That box was deleted.',
    });
  });
});

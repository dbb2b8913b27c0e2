import { z } from 'zod';
import { groupName, type saveGroupInput } from '../../lib/validation';
import { recordAudit, type Actor } from '../audit/audit';
import { isUniqueViolation, type Db } from '../db/client';
import { AppError } from '../errors';

/**
 * Groups give access by team: a member reaches the group's boxes and every box carrying one of its tags (the rule is
 * reachableBoxes in server/boxes/access.ts). A group is the provider's (its members follow the identity provider's
 * groups claim, refreshed at each sign-in: syncProviderGroups) or an admin's (made and filled on the /groups page).
 * Either kind is given boxes and tags by an admin.
 */
export const createGroupInput = z.object({ name: groupName });

const groupView = {
  id: true,
  name: true,
  source: true,
  createdAt: true,
  members: { select: { user: { select: { id: true, email: true, name: true } } } },
  boxes: { select: { box: { select: { id: true, name: true } } } },
  tags: { select: { tag: true } },
} as const;

export async function listGroups(db: Db) {
  const rows = await db.group.findMany({ select: groupView, orderBy: { name: 'asc' } });
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    source: row.source as 'provider' | 'manual',
    createdAt: row.createdAt,
    members: row.members.map((member) => member.user),
    boxes: row.boxes.map((grant) => grant.box),
    tags: row.tags.map((grant) => grant.tag),
  }));
}

export async function createGroup(db: Db, actor: Actor, name: string) {
  const group = await db.group.create({ data: { name, source: 'manual' }, select: { id: true, name: true } }).catch((error: unknown) => {
    throw isUniqueViolation(error) ? new AppError('CONFLICT', `A group named ${name} exists already.`) : error;
  });
  await recordAudit(db, { actor, action: 'group.create', detail: { group: group.name }, result: 'ok' });
  return group;
}

/**
 * Sets what a group reaches and, for an admin's group, who is in it. A provider's group keeps the members the provider
 * gave it: they change at each member's next sign-in, so they are not edited here.
 */
export async function saveGroup(db: Db, actor: Actor, input: z.output<typeof saveGroupInput>) {
  const group = await db.group.findUnique({ where: { id: input.id } });
  if (!group) throw new AppError('NOT_FOUND', 'That group does not exist any more.');
  const boxIds = [...new Set(input.boxIds)];
  const tags = [...new Set(input.tags)];
  const memberIds = [...new Set(input.memberIds)];
  if ((await db.box.count({ where: { id: { in: boxIds } } })) !== boxIds.length) throw new AppError('BAD_INPUT', 'One of the boxes does not exist any more; reload the page.');
  if (group.source === 'manual' && (await db.user.count({ where: { id: { in: memberIds } } })) !== memberIds.length) {
    throw new AppError('BAD_INPUT', 'One of the members does not exist any more; reload the page.');
  }
  await db.$transaction([
    db.groupBox.deleteMany({ where: { groupId: group.id } }),
    db.groupBox.createMany({ data: boxIds.map((boxId) => ({ groupId: group.id, boxId })) }),
    db.groupTag.deleteMany({ where: { groupId: group.id } }),
    db.groupTag.createMany({ data: tags.map((tag) => ({ groupId: group.id, tag })) }),
    ...(group.source === 'manual'
      ? [db.groupMember.deleteMany({ where: { groupId: group.id } }), db.groupMember.createMany({ data: memberIds.map((userId) => ({ groupId: group.id, userId })) })]
      : []),
  ]);
  await recordAudit(db, { actor, action: 'group.save', detail: { group: group.name, boxIds, tags, ...(group.source === 'manual' ? { memberIds } : {}) }, result: 'ok' });
  return { id: group.id };
}

export async function deleteGroup(db: Db, actor: Actor, id: string) {
  const group = await db.group.findUnique({ where: { id }, select: { name: true } });
  if (!group) throw new AppError('NOT_FOUND', 'That group does not exist any more.');
  await db.group.delete({ where: { id } });
  await recordAudit(db, { actor, action: 'group.delete', detail: { group: group.name }, result: 'ok' });
  return { id };
}

/**
 * At a sign-in through the identity provider: the user's provider groups become exactly the ones its claim lists (new
 * names become provider groups; an admin's groups are left alone), and, when an admin group is configured, their role
 * follows it. Each change is audited with the provider as its source. Returns what changed.
 */
export async function syncProviderGroups(
  db: Db,
  user: { id: string; email: string; role: string },
  claim: { groups: string[]; adminGroup: string | null },
) {
  const wanted = [...new Set(claim.groups.map((name) => name.trim()).filter((name) => groupName.safeParse(name).success))];
  const current = await db.groupMember.findMany({ where: { userId: user.id, group: { source: 'provider' } }, select: { group: { select: { id: true, name: true } } } });
  const currentNames = new Set(current.map((member) => member.group.name));
  const left = current.filter((member) => !wanted.includes(member.group.name)).map((member) => member.group);
  const joined: string[] = [];
  for (const name of wanted.filter((name) => !currentNames.has(name))) {
    // A group an admin made with the provider's name stays the admin's: joining it is not the provider's to decide.
    const group = await db.group.upsert({ where: { name }, create: { name, source: 'provider' }, update: {}, select: { id: true, source: true } });
    if (group.source !== 'provider') continue;
    await db.groupMember.upsert({ where: { groupId_userId: { groupId: group.id, userId: user.id } }, create: { groupId: group.id, userId: user.id }, update: {} });
    joined.push(name);
  }
  if (left.length) await db.groupMember.deleteMany({ where: { userId: user.id, groupId: { in: left.map((group) => group.id) } } });

  const actor = { id: user.id, email: user.email };
  if (joined.length || left.length) {
    await recordAudit(db, { actor, action: 'user.groups.provider', detail: { joined, left: left.map((group) => group.name) }, result: 'ok' });
  }
  let role = user.role === 'admin' ? 'admin' : 'developer';
  if (claim.adminGroup) {
    const providerRole = wanted.includes(claim.adminGroup) ? 'admin' : 'developer';
    if (providerRole !== role) {
      await db.user.update({ where: { id: user.id }, data: { role: providerRole } });
      await recordAudit(db, { actor, action: 'user.role.provider', detail: { from: role, to: providerRole }, result: 'ok' });
      role = providerRole;
    }
  }
  return { joined, left: left.map((group) => group.name), role };
}

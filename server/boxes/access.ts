import type { Role } from '../auth/auth';
import type { Db } from '../db/client';

/** The signed-in user as every server function sees it. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** A user row (the database's, better-auth's) as a SessionUser: a role that is not "admin" is a developer's. */
export function sessionUserOf(row: { id: string; email: string; name: string; role: string | null | undefined }): SessionUser {
  return { id: row.id, email: row.email, name: row.name, role: row.role === 'admin' ? 'admin' : 'developer' };
}

/**
 * Prisma filter for the boxes a user may reach, the one access rule: all for admins; for a developer the boxes they
 * own, are a member of, or reach through one of their groups (a box given to the group, or a box with one of the
 * group's tags). The one access check on a box is getBoxRow (boxes.ts), which returns the row it checked; tRPC's
 * boxProcedure puts that row in ctx.box. Read afresh on every call, so the AccessWatch's recheck sees a change of
 * groups (the provider's, at a sign-in, or an admin's) as soon as it is written.
 */
export async function reachableBoxes(db: Db, user: SessionUser) {
  if (user.role === 'admin') return {};
  const groupTags = await db.groupTag.findMany({ where: { group: { members: { some: { userId: user.id } } } }, select: { tag: true }, distinct: ['tag'] });
  return {
    OR: [
      { ownerId: user.id },
      { members: { some: { userId: user.id } } },
      { groups: { some: { group: { members: { some: { userId: user.id } } } } } },
      // Box.tags is a JSON array of tags (lowercase, no quotes: lib/validation's tag), so a quoted tag matches one whole tag
      ...groupTags.map(({ tag }) => ({ tags: { contains: JSON.stringify(tag) } })),
    ],
  };
}

/**
 * The other side of reachableBoxes: the users it gives a box to besides admins (its owner, its members, and the members
 * of each group given the box or one of its tags); null for a box that does not exist. Their keys go into the box's
 * authorized_keys (server/access-keys/ssh-keys.ts).
 */
export async function peopleOfBox(db: Db, boxId: string): Promise<string[] | null> {
  const box = await db.box.findUnique({ where: { id: boxId }, select: { ownerId: true, tags: true, members: { select: { userId: true } } } });
  if (!box) return null;
  const tags = JSON.parse(box.tags) as string[];
  const groupMembers = await db.groupMember.findMany({
    where: { group: { OR: [{ boxes: { some: { boxId } } }, { tags: { some: { tag: { in: tags } } } }] } },
    select: { userId: true },
  });
  return [...new Set([box.ownerId, ...box.members.map((member) => member.userId), ...groupMembers.map((member) => member.userId)])];
}

import type { Role } from '../auth/auth';

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
 * Prisma filter for the boxes a user may reach: all for admins; owned or shared for developers. The one access check
 * on a box is getBoxRow (boxes.ts), which returns the row it checked; tRPC's boxProcedure puts that row in ctx.box.
 */
export function reachableBoxes(user: SessionUser) {
  if (user.role === 'admin') return {};
  return { OR: [{ ownerId: user.id }, { members: { some: { userId: user.id } } }] };
}

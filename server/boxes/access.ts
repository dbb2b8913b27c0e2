import type { Role } from '../auth/auth';

/** The signed-in user as every server function sees it. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/**
 * Prisma filter for the boxes a user may reach: all for admins; owned or shared for developers. The one access check
 * on a box is getBoxRow (boxes.ts), which returns the row it checked; tRPC's boxProcedure puts that row in ctx.box.
 */
export function reachableBoxes(user: SessionUser) {
  if (user.role === 'admin') return {};
  return { OR: [{ ownerId: user.id }, { members: { some: { userId: user.id } } }] };
}

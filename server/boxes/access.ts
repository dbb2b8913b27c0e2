import type { Role } from '../auth/auth';
import { AppError } from '../errors';

/** The signed-in user as every server function sees it. */
export interface SessionUser {
  id: string;
  email: string;
  name: string;
  role: Role;
}

/** Prisma filter for the boxes a user may reach: all for admins; owned or shared for developers. */
export function reachableBoxes(user: SessionUser) {
  if (user.role === 'admin') return {};
  return { OR: [{ ownerId: user.id }, { members: { some: { userId: user.id } } }] };
}

export function requireAdmin(user: SessionUser): void {
  if (user.role !== 'admin') throw new AppError('FORBIDDEN', 'Only admins (team leads) can do this.');
}

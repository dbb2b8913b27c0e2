import { randomBytes, randomUUID } from 'node:crypto';
import { hashPassword } from 'better-auth/crypto';
import { z } from 'zod';
import { displayName, email, idInput, password } from '../../lib/validation';
import { roles, type Role } from '../auth/auth';
import type { Db } from '../db/client';
import { AppError } from '../errors';

export interface NewUser {
  email: string;
  name: string;
  password: string;
  role: Role;
  /** The user must choose a new password at their first sign-in (the dashboard asks this for accounts admins create). */
  mustChangePassword?: boolean;
}

export const createUserInput = z.object({
  email,
  name: displayName,
  password,
  role: z.enum(roles),
  /** Off only when the admin handed over a password the user keeps (tests sign in with the one they set). */
  requireNewPassword: z.boolean().default(true),
});
export const setRoleInput = idInput.extend({ role: z.enum(roles) });

const publicUserFields = { id: true, email: true, name: true, role: true, mustChangePassword: true, createdAt: true } as const;

/** Creates a user with a better-auth credential account (the same rows its sign-up would write). */
export async function createUser(db: Db, input: NewUser) {
  const email = input.email.toLowerCase();
  if (await db.user.findUnique({ where: { email } })) {
    throw new AppError('CONFLICT', `A user with the email ${email} already exists.`);
  }
  const id = randomUUID();
  const passwordHash = await hashPassword(input.password);
  const [user] = await db.$transaction([
    db.user.create({ data: { id, email, name: input.name, role: input.role, mustChangePassword: input.mustChangePassword ?? false }, select: publicUserFields }),
    db.account.create({ data: { id: randomUUID(), accountId: id, providerId: 'credential', userId: id, password: passwordHash } }),
  ]);
  return user;
}

export function listUsers(db: Db) {
  return db.user.findMany({ select: publicUserFields, orderBy: { email: 'asc' } });
}

async function adminCount(db: Db) {
  return db.user.count({ where: { role: 'admin' } });
}

export async function setRole(db: Db, userId: string, role: Role) {
  const user = await db.user.findUnique({ where: { id: userId } });
  if (!user) throw new AppError('NOT_FOUND', 'That user does not exist any more.');
  if (user.role === 'admin' && role !== 'admin' && (await adminCount(db)) <= 1) {
    throw new AppError('CONFLICT', 'This is the last admin; make another user admin first.');
  }
  return db.user.update({ where: { id: userId }, data: { role }, select: publicUserFields });
}

/** The user chooses a new password at their next sign-in (and now, if signed in: the pages send them there first). */
export async function requireNewPassword(db: Db, userId: string) {
  const user = await db.user.findUnique({ where: { id: userId } });
  if (!user) throw new AppError('NOT_FOUND', 'That user does not exist any more.');
  return db.user.update({ where: { id: userId }, data: { mustChangePassword: true }, select: publicUserFields });
}

/** Whether the user still has to choose a new password (users.me; the pages send them to /password first). */
export async function mustChangePassword(db: Db, userId: string): Promise<boolean> {
  const user = await db.user.findUnique({ where: { id: userId }, select: { mustChangePassword: true } });
  return user?.mustChangePassword ?? false;
}

export async function deleteUser(db: Db, userId: string, actingUserId: string) {
  if (userId === actingUserId) throw new AppError('CONFLICT', 'You cannot delete your own account.');
  const user = await db.user.findUnique({ where: { id: userId }, include: { _count: { select: { ownedBoxes: true } } } });
  if (!user) throw new AppError('NOT_FOUND', 'That user does not exist any more.');
  if (user._count.ownedBoxes > 0) {
    throw new AppError('CONFLICT', `${user.email} owns ${user._count.ownedBoxes} box(es); give them another owner first.`);
  }
  await db.user.delete({ where: { id: userId } });
  return user;
}

/**
 * On the very first start (no users at all) creates the first admin. Returns the credentials to print
 * once; the password is generated when BOXYARD_ADMIN_PASSWORD is not set.
 */
export async function ensureFirstAdmin(db: Db, options: { email: string; password?: string }) {
  if ((await db.user.count()) > 0) return null;
  const password = options.password ?? randomBytes(12).toString('base64url');
  await createUser(db, { email: options.email, name: 'Admin', password, role: 'admin' });
  return { email: options.email, password, generated: options.password === undefined };
}

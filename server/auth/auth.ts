import { betterAuth } from 'better-auth/minimal'; // without Kysely (unused with the Prisma adapter): ~14 MB and ~0.3 s less at start
import { prismaAdapter } from 'better-auth/adapters/prisma';
import { APIError } from 'better-auth/api';
import { authUserFields, issuesSentence } from '../../lib/validation';
import type { Db } from '../db/client';
import type { Env } from '../env';
import { cliLoginPlugins } from './cli-login';

export type Role = 'admin' | 'developer';
export const roles = ['admin', 'developer'] as const satisfies readonly Role[];

/**
 * better-auth owns sign-in, password hashing (scrypt) and database sessions (httpOnly cookie).
 * Public sign-up is off: admins create accounts (server/users). `role` is ours, stored on its user table.
 */
export function createAuth(options: { db: Db; env: Env; provider: 'sqlite' | 'postgresql'; secret: string }) {
  const { env } = options;
  return betterAuth({
    baseURL: env.publicUrl,
    basePath: '/api/auth',
    secret: options.secret,
    trustedOrigins: [env.publicUrl],
    database: prismaAdapter(options.db, { provider: options.provider }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 10, maxPasswordLength: 256 },
    user: {
      additionalFields: {
        role: { type: 'string', required: false, defaultValue: 'developer', input: false },
      },
    },
    // better-auth's own routes write user fields too (update-user, and whatever a later version or plugin adds): every
    // write of a user row is held to the caps users.create has, and refused as a 400 that names the field.
    databaseHooks: { user: { create: { before: checkedUserFields }, update: { before: checkedUserFields } } },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    advanced: {
      useSecureCookies: env.publicUrl.startsWith('https:'),
      cookiePrefix: 'boxyard',
    },
    telemetry: { enabled: false },
    plugins: [...cliLoginPlugins({ db: options.db, publicUrl: env.publicUrl })],
    rateLimit: {
      enabled: env.NODE_ENV === 'production',
      window: 60,
      max: 100,
      // Password guessing: a few sign-in attempts per client address per minute.
      customRules: { '/sign-in/email': { window: 60, max: env.SIGNIN_ATTEMPTS_PER_MINUTE } },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

/** The user fields a better-auth route is about to write, checked (and trimmed) by the shapes users.create uses. */
async function checkedUserFields<Data extends { name?: string; email?: string; image?: string | null }>(data: Data): Promise<{ data: Data }> {
  const { name, email, image } = data;
  const checked = authUserFields.safeParse({ name, email, image });
  if (!checked.success) throw new APIError('BAD_REQUEST', { message: issuesSentence(checked.error) });
  return { data: { ...data, ...definedOnly(checked.data) } };
}

/** Keeps the fields that were given, so a partial update does not write `undefined` over what it was not sent. */
function definedOnly<Fields extends object>(fields: Fields): Partial<Fields> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as Partial<Fields>;
}

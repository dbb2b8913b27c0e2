import { betterAuth } from 'better-auth/minimal'; // without Kysely (unused with the Prisma adapter): ~14 MB and ~0.3 s less at start
import { prismaAdapter } from 'better-auth/adapters/prisma';
import { APIError } from 'better-auth/api';
import { authUserFields, issuesSentence } from '../../lib/validation';
import type { Db } from '../db/client';
import type { Env } from '../env';
import { cliLoginPlugins } from './cli-login';
import { passwordChangePlugin } from './password-change';
import { ssoAuthOptions } from './oidc';
import { CLIENT_ADDRESS_HEADER, signInLimitsPlugin } from './sign-in-limits';

export type Role = 'admin' | 'developer';
export const roles = ['admin', 'developer'] as const satisfies readonly Role[];

/**
 * better-auth owns sign-in, password hashing (scrypt) and database sessions (httpOnly cookie).
 * Public sign-up is off: admins create accounts (server/users). `role` is ours, stored on its user table.
 * Password sign-in is throttled per account and address by signInLimitsPlugin, in the database. better-auth's own rate
 * limit, keyed on the same client address, is a coarse flood guard on its other routes; it stays in each process's
 * memory, which only multiplies its generous cap by the number of dashboards (none of those routes checks a password
 * without a session, and changing one has better-auth's own tighter rule).
 * Single sign-on (OIDC_ISSUER), password sign-in turned off, and the audit of every sign-in: server/auth/oidc.ts.
 */
export function createAuth(options: { db: Db; env: Env; provider: 'sqlite' | 'postgresql'; secret: string }) {
  const { env } = options;
  const sso = ssoAuthOptions({ db: options.db, oidc: env.oidc });
  return betterAuth({
    baseURL: env.publicUrl,
    basePath: '/api/auth',
    secret: options.secret,
    // A failed provider sign-in comes back to the sign-in page, which words its ?error= (lib/sign-in-errors.ts).
    onAPIError: { errorURL: `${env.publicUrl}/login` },
    // The dashboard's pages are its only origin, as for the edge's own Origin check (server/http/origin.ts).
    trustedOrigins: [env.publicOrigin],
    database: prismaAdapter(options.db, { provider: options.provider }),
    emailAndPassword: { enabled: true, disableSignUp: true, minPasswordLength: 10, maxPasswordLength: 256 },
    user: {
      additionalFields: {
        role: { type: 'string', required: false, defaultValue: 'developer', input: false },
        // Read with every session (server/http/identity.ts): until it is false the session may only choose a password.
        mustChangePassword: { type: 'boolean', required: false, defaultValue: false, input: false },
      },
      validateUserInfo: sso.validateUserInfo,
    },
    account: { accountLinking: sso.accountLinking },
    // better-auth's own routes write user fields too (update-user, and whatever a later version or plugin adds): every
    // write of a user row is held to the caps users.create has, and refused as a 400 that names the field.
    databaseHooks: {
      user: { create: { before: checkedUserFields }, update: { before: checkedUserFields } },
      session: { create: { after: sso.sessionCreated } },
      account: { create: { after: sso.accountCreated } },
    },
    session: { expiresIn: 60 * 60 * 24 * 7, updateAge: 60 * 60 * 24 },
    advanced: {
      useSecureCookies: env.publicUrl.startsWith('https:'),
      cookiePrefix: 'boxyard',
      // Checked under NODE_ENV=test too (better-auth skips it there by default), so the tests see production's rule.
      disableOriginCheck: false,
      // Only the edge sets this header, after removing any a client sent: an address a client cannot choose.
      ipAddress: { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] },
    },
    telemetry: { enabled: false },
    // Password sign-in turned off is refused before the throttle counts the attempt.
    plugins: [
      ...cliLoginPlugins({ db: options.db, publicUrl: env.publicUrl }),
      ...sso.plugins,
      signInLimitsPlugin({ db: options.db, attemptsPerMinute: env.SIGNIN_ATTEMPTS_PER_MINUTE }),
      passwordChangePlugin({ db: options.db }),
    ],
    rateLimit: {
      enabled: env.NODE_ENV === 'production',
      window: 60,
      max: 100,
      // Password sign-in has its own limits, per account and address, shared through the database (signInLimitsPlugin).
      // "Sign in with <provider>" only sends the browser to the provider, which checks the password: better-auth's
      // 3 per 10 s for /sign-in/* would refuse a team behind one address signing in at nine; the coarse cap is enough.
      customRules: { '/sign-in/email': false, '/sign-in/social': { window: 60, max: 100 } },
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

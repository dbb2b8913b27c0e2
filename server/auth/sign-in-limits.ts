import type { BetterAuthPlugin } from 'better-auth';
import { APIError, createAuthMiddleware, isAPIError } from 'better-auth/api';
import type { Db } from '../db/client';
import { SignInThrottle } from './sign-in-throttle';

/**
 * The header the edge sets on every request it hands to better-auth: the client address it resolved
 * (server/http/client-address.ts), replacing whatever a client sent under that name. better-auth reads the address from
 * it alone (`advanced.ipAddress` in auth.ts) for its sessions and its own rate limits; this plugin for sign-in limits.
 */
export const CLIENT_ADDRESS_HEADER = 'x-boxyard-client-address';

const SIGN_IN_PATH = '/sign-in/email';

/**
 * Puts SignInThrottle in front of better-auth's password sign-in. Calls from the server itself (no HTTP request:
 * seeding, tests' helpers) are not a client and are not counted.
 */
export function signInLimitsPlugin(options: { db: Db; attemptsPerMinute: number }) {
  const throttle = new SignInThrottle(options.db, options.attemptsPerMinute);
  const attemptOf = (ctx: { request?: Request; body?: unknown }) => {
    const address = ctx.request?.headers.get(CLIENT_ADDRESS_HEADER);
    const email = (ctx.body as { email?: unknown } | undefined)?.email;
    return address && typeof email === 'string' ? { address, email } : null;
  };

  return {
    id: 'boxyard-sign-in-limits',
    hooks: {
      before: [
        {
          matcher: (ctx) => ctx.path === SIGN_IN_PATH,
          handler: createAuthMiddleware(async (ctx) => {
            const attempt = attemptOf(ctx);
            if (!attempt) return;
            const refusal = await throttle.attempt(attempt.email, attempt.address);
            if (refusal) {
              throw new APIError('TOO_MANY_REQUESTS', { message: refusal.message, code: 'SIGN_IN_THROTTLED' }, { 'retry-after': String(refusal.retryAfterSeconds) });
            }
          }),
        },
      ],
      after: [
        {
          matcher: (ctx) => ctx.path === SIGN_IN_PATH,
          handler: createAuthMiddleware(async (ctx) => {
            const attempt = attemptOf(ctx);
            if (attempt && !isAPIError(ctx.context.returned)) await throttle.succeeded(attempt.email, attempt.address);
          }),
        },
      ],
    },
  } satisfies BetterAuthPlugin;
}

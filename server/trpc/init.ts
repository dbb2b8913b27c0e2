import { initTRPC, TRPCError } from '@trpc/server';
import superjson from 'superjson';
import { z, ZodError } from 'zod';
import { MAX_TRPC_BODY_BYTES } from '../../lib/trpc-path';
import { issuesSentence, recordId } from '../../lib/validation';
import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import { databaseUnavailable } from '../db/client';
import { AppError, appErrorStatus, INTERNAL_FAILURE_MESSAGE } from '../errors';
import { logger } from '../log';
import type { Services } from '../services';

/**
 * Context and base procedures (public, authed, admin, box). The edge (server/http/trpc-route.ts) makes the context with
 * the one identity function every edge uses; AppError codes become tRPC codes through the one table in errors.ts.
 */

export interface Context {
  services: Services;
  user: SessionUser | null;
  /** Why there is no user, in words the user can act on (a revoked API token...); the edge says it. */
  refusal?: string;
  /** Signed in, but must choose a new password first: only `pendingPasswordProcedure`s serve them. */
  pendingUser?: SessionUser;
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // Live job logs: apt can be silent for minutes, and proxies drop idle streams. Pings keep the stream open; a
  // client that hears nothing for 30 s reconnects and resumes from the last line it saw (tracked ids).
  sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const appCode = cause instanceof AppError ? cause.code : null;
    let message = shape.message;
    if (cause instanceof ZodError) message = issuesSentence(cause);
    else if (error.code === 'PAYLOAD_TOO_LARGE') message = `A request is at most ${MAX_TRPC_BODY_BYTES / 1024 / 1024} MiB; send less at once.`;
    else if (error.code === 'INTERNAL_SERVER_ERROR' && !(cause instanceof AppError)) {
      // Unexpected failures keep their detail in the log, not in the browser.
      message = INTERNAL_FAILURE_MESSAGE;
    }
    return {
      ...shape,
      message,
      data: {
        ...shape.data,
        stack: undefined,
        appCode,
        fieldErrors: cause instanceof ZodError ? Object.fromEntries(cause.issues.map((i) => [i.path.join('.'), i.message])) : undefined,
      },
    };
  },
});

function asTrpcError(error: AppError): TRPCError {
  return new TRPCError({ code: appErrorStatus[error.code].trpc, message: error.message, cause: error });
}

/** A subscription's events, with an AppError thrown while they stream typed like one thrown by a query. */
async function* withTypedErrors(events: AsyncIterable<unknown>): AsyncGenerator<unknown> {
  try {
    yield* events;
  } catch (error) {
    throw error instanceof AppError ? asTrpcError(error) : error;
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

const mapAppErrors = t.middleware(async ({ ctx, next, path, type }) => {
  const started = performance.now();
  const result = await next();
  // `path` is a procedure of the router (an unknown one never reaches a middleware): a bounded label.
  ctx.services.timings.trpcCall(path, type, result.ok ? 'ok' : result.error.code, (performance.now() - started) / 1000);
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) throw asTrpcError(cause);
    // Not a fault of this request: said as such (503), and left out of the error log (the health route reports it).
    const unavailable = databaseUnavailable(cause);
    if (unavailable) throw asTrpcError(unavailable);
    if (result.error.code === 'INTERNAL_SERVER_ERROR') logger.error({ err: cause ?? result.error, path }, 'procedure failed');
  }
  // A subscription's own checks run when its first event is asked for (jobs.logs looks its job up then): its refusal
  // must be the same NOT_FOUND a query gives, not an internal error.
  if (result.ok && type === 'subscription' && isAsyncIterable(result.data)) return { ...result, data: withTypedErrors(result.data) };
  return result;
});

export const router = t.router;
export const publicProcedure = t.procedure.use(mapAppErrors);

export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.pendingUser) throw new TRPCError({ code: 'FORBIDDEN', message: ctx.refusal ?? 'Choose a new password first.' });
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.refusal ?? 'Sign in first (your session may have expired).' });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

/** Signed in, even while an admin's request for a new password is pending: only what the password page needs. */
export const pendingPasswordProcedure = publicProcedure.use(({ ctx, next }) => {
  const user = ctx.user ?? ctx.pendingUser;
  if (!user) throw new TRPCError({ code: 'UNAUTHORIZED', message: ctx.refusal ?? 'Sign in first (your session may have expired).' });
  return next({ ctx: { ...ctx, user } });
});

export const adminProcedure = authedProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only admins (team leads) can do this.' });
  return next();
});

/**
 * A procedure acting on one box: the input field `field` names it, as the browser sends it (`id` in boxes.*,
 * `boxId` elsewhere), and the box, looked up once with the user's access, is `ctx.box`. A box the user may not
 * reach is NOT_FOUND, exactly like an unknown id.
 */
export function boxProcedure<const Field extends string>(field: Field) {
  const shape = { [field]: recordId } as Record<Field, typeof recordId>;
  return authedProcedure.input(z.object(shape)).use(async ({ ctx, input, next }) => {
    // zod's inferred output cannot be indexed by a generic key; the schema above makes it a string.
    const box = await getBoxRow(ctx.services.db, ctx.user, (input as Record<Field, string>)[field]);
    return next({ ctx: { box } });
  });
}

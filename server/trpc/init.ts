import type { IncomingMessage } from 'node:http';
import { initTRPC, TRPCError } from '@trpc/server';
import { fromNodeHeaders } from 'better-auth/node';
import superjson from 'superjson';
import { z, ZodError } from 'zod';
import { recordId } from '../../lib/validation';
import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import { AppError, type AppErrorCode } from '../errors';
import { logger } from '../log';
import type { Services } from '../services';

/** Context and base procedures (public, authed, admin, box), and the one place AppError becomes tRPC/HTTP. */

export async function createContext(services: Services, req: IncomingMessage) {
  const session = await services.auth.api.getSession({ headers: fromNodeHeaders(req.headers) });
  const user: SessionUser | null = session
    ? { id: session.user.id, email: session.user.email, name: session.user.name, role: session.user.role === 'admin' ? 'admin' : 'developer' }
    : null;
  return { services, user };
}
export type Context = Awaited<ReturnType<typeof createContext>>;

const trpcCodes: Record<AppErrorCode, TRPCError['code']> = {
  BAD_INPUT: 'BAD_REQUEST',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  SSH_UNREACHABLE: 'BAD_GATEWAY',
  SSH_AUTH_FAILED: 'BAD_GATEWAY',
  SSH_HOST_KEY_MISMATCH: 'BAD_GATEWAY',
  SSH_TIMEOUT: 'TIMEOUT',
  SSH_DISCONNECTED: 'BAD_GATEWAY',
  REMOTE_COMMAND_FAILED: 'BAD_GATEWAY',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

function readableZodMessage(error: ZodError): string {
  return error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');
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
    if (cause instanceof ZodError) message = readableZodMessage(cause);
    else if (error.code === 'INTERNAL_SERVER_ERROR' && !(cause instanceof AppError)) {
      // Unexpected failures keep their detail in the log, not in the browser.
      message = 'Something went wrong on the dashboard; the error is in its log.';
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

const mapAppErrors = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: trpcCodes[cause.code], message: cause.message, cause });
    }
    if (result.error.code === 'INTERNAL_SERVER_ERROR') logger.error({ err: cause ?? result.error, path }, 'procedure failed');
  }
  return result;
});

export const router = t.router;
export const publicProcedure = t.procedure.use(mapAppErrors);

export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Sign in first (your session may have expired).' });
  return next({ ctx: { ...ctx, user: ctx.user } });
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

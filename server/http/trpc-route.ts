import type { IncomingMessage } from 'node:http';
import { TRPCError } from '@trpc/server';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { MAX_BATCH_CALLS, MAX_SIGNED_OUT_BATCH_CALLS, MAX_TRPC_BODY_BYTES, TRPC_PATH } from '../../lib/trpc-path';
import { recordAudit, systemActor } from '../audit/audit';
import { databaseUnavailable } from '../db/client';
import { AppError, appErrorStatus, type AppErrorCode } from '../errors';
import type { Services } from '../services';
import type { Context } from '../trpc/init';
import { appRouter } from '../trpc/router';
import { identityRefusalMessage, type Identity } from './identity';

/** A refusal of the whole request, before any procedure runs: typed like a procedure's own (errors.ts's table). */
function refusal(code: AppErrorCode, message: string): TRPCError {
  return new TRPCError({ code: appErrorStatus[code].trpc, message, cause: new AppError(code, message) });
}

/**
 * The tRPC API (queries, mutations, and the server-sent event subscriptions of live job logs). A batch is capped
 * (MAX_BATCH_CALLS) before anyone is identified, and a request without a session may batch only a few calls: a
 * signed-out client cannot make the dashboard do a hundred refusals' work for one request.
 */
export function createTrpcRoute(services: Services, identify: (req: IncomingMessage) => Promise<Identity>) {
  return createHTTPHandler({
    router: appRouter,
    basePath: `${TRPC_PATH}/`,
    maxBodySize: MAX_TRPC_BODY_BYTES,
    createContext: async ({ req, info }): Promise<Context> => {
      const calls = info.calls.length;
      if (calls > MAX_BATCH_CALLS) throw refusal('BAD_INPUT', `One request holds at most ${MAX_BATCH_CALLS} calls; send the others in another request.`);
      const identity = await identify(req).catch((error: unknown) => {
        const unavailable = databaseUnavailable(error);
        throw unavailable ? refusal(unavailable.code, unavailable.message) : error;
      });
      if (identity.user) return { services, user: identity.user };
      if (identity.refusal === 'password-change-pending') return { services, user: null, pendingUser: identity.pendingUser, refusal: identityRefusalMessage(identity.refusal) };
      if (calls > MAX_SIGNED_OUT_BATCH_CALLS) {
        await recordAudit(services.db, {
          actor: systemActor,
          action: 'api.batch.refused',
          detail: { calls, paths: info.calls.slice(0, MAX_BATCH_CALLS).map((call) => call.path) },
          result: 'error',
          error: 'signed out',
        });
        throw refusal('UNAUTHENTICATED', `Sign in first: a request without a session holds at most ${MAX_SIGNED_OUT_BATCH_CALLS} calls.`);
      }
      return { services, user: null, refusal: identityRefusalMessage(identity.refusal) };
    },
  });
}

import type { TRPC_ERROR_CODE_KEY } from '@trpc/server';
import { closeCodes } from '../lib/terminal-protocol';

/**
 * Domain errors. Server code throws AppError with a code; every edge (tRPC, plain HTTP routes, WebSockets) turns the
 * code into its own status through the one table below. `message` is written for the user (what happened, what to
 * do); `internal` keeps raw detail (SSH stderr, stack causes) for logs and admins only.
 */

/** Standard WebSocket "internal error": the UI treats it like any unexpected close. */
export const WS_INTERNAL_ERROR = 1011;
/** Standard WebSocket "try again later". */
const WS_TRY_AGAIN_LATER = 1013;

interface EdgeStatus {
  trpc: TRPC_ERROR_CODE_KEY;
  http: number;
  /** Close code of a WebSocket (the terminal, and the tunnels next) refused or ended for this reason. */
  ws: number;
}

export const appErrorStatus = {
  BAD_INPUT: { trpc: 'BAD_REQUEST', http: 400, ws: closeCodes.badRequest },
  UNAUTHENTICATED: { trpc: 'UNAUTHORIZED', http: 401, ws: closeCodes.unauthenticated },
  FORBIDDEN: { trpc: 'FORBIDDEN', http: 403, ws: closeCodes.forbidden },
  NOT_FOUND: { trpc: 'NOT_FOUND', http: 404, ws: closeCodes.notFound },
  CONFLICT: { trpc: 'CONFLICT', http: 409, ws: closeCodes.badRequest },
  SSH_UNREACHABLE: { trpc: 'BAD_GATEWAY', http: 502, ws: closeCodes.boxUnavailable },
  SSH_AUTH_FAILED: { trpc: 'BAD_GATEWAY', http: 502, ws: closeCodes.boxUnavailable },
  SSH_HOST_KEY_MISMATCH: { trpc: 'BAD_GATEWAY', http: 502, ws: closeCodes.boxUnavailable },
  SSH_TIMEOUT: { trpc: 'TIMEOUT', http: 504, ws: closeCodes.boxUnavailable },
  SSH_DISCONNECTED: { trpc: 'BAD_GATEWAY', http: 502, ws: closeCodes.boxUnavailable },
  REMOTE_COMMAND_FAILED: { trpc: 'BAD_GATEWAY', http: 502, ws: closeCodes.boxUnavailable },
  /** The dashboard's own database does not answer (restarting, unreachable): the same request works again later. */
  DATABASE_UNAVAILABLE: { trpc: 'SERVICE_UNAVAILABLE', http: 503, ws: WS_TRY_AGAIN_LATER },
  INTERNAL: { trpc: 'INTERNAL_SERVER_ERROR', http: 500, ws: WS_INTERNAL_ERROR },
} as const satisfies Record<string, EdgeStatus>;

export type AppErrorCode = keyof typeof appErrorStatus;

/** What every edge tells the user about a failure that is not an AppError: the detail stays in the log. */
export const INTERNAL_FAILURE_MESSAGE = 'Something went wrong on the dashboard; the error is in its log.';

export class AppError extends Error {
  readonly code: AppErrorCode;
  /** Raw detail for logs and admins, never shown to other users. */
  readonly internal?: string;

  constructor(code: AppErrorCode, message: string, options?: { cause?: unknown; internal?: string }) {
    super(message, { cause: options?.cause });
    this.name = 'AppError';
    this.code = code;
    this.internal = options?.internal;
  }
}

/** What every edge says when a request failed because the database did not answer (db/client.ts isDatabaseUnreachable). */
export const DATABASE_UNAVAILABLE_MESSAGE = 'The dashboard cannot reach its database right now; try again in a moment.';

export function isAppError(error: unknown, code?: AppErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

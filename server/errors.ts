/**
 * Domain errors. Server code throws AppError with a code; server/trpc/init.ts maps codes to tRPC/HTTP
 * in one place. `message` is written for the user (what happened, what to do); `internal` keeps raw
 * detail (SSH stderr, stack causes) for logs and admins only.
 */
export const appErrorCodes = {
  BAD_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  SSH_UNREACHABLE: 502,
  SSH_AUTH_FAILED: 502,
  SSH_HOST_KEY_MISMATCH: 502,
  SSH_TIMEOUT: 504,
  SSH_DISCONNECTED: 502,
  REMOTE_COMMAND_FAILED: 502,
  INTERNAL: 500,
} as const;

export type AppErrorCode = keyof typeof appErrorCodes;

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

  get httpStatus(): number {
    return appErrorCodes[this.code];
  }
}

export function isAppError(error: unknown, code?: AppErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

import { closeCodes } from '../../lib/terminal-protocol';
import { isAppError, type AppErrorCode } from '../errors';

/** WebSocket close reasons are limited to 123 bytes; the protocol keeps them to 120 so the UI can show them whole. */
export const MAX_CLOSE_REASON_BYTES = 120;

/** Standard "internal error": not in closeCodes because the UI treats it like any unexpected close. */
export const INTERNAL_ERROR = 1011;

export interface Refusal {
  code: number;
  reason: string;
}

/** A terminal the dashboard will not open or attach, with the close code and the reason the browser shows. */
export class TerminalRefusal extends Error implements Refusal {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'TerminalRefusal';
  }
}

/** Cuts `reason` to at most MAX_CLOSE_REASON_BYTES of UTF-8 without splitting a character, marking the cut. */
export function trimCloseReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_CLOSE_REASON_BYTES) return reason;
  const ellipsis = '…';
  let kept = '';
  let bytes = Buffer.byteLength(ellipsis);
  for (const character of reason) {
    bytes += Buffer.byteLength(character);
    if (bytes > MAX_CLOSE_REASON_BYTES) break;
    kept += character;
  }
  return kept.trimEnd() + ellipsis;
}

const closeCodeFor: Record<AppErrorCode, number> = {
  BAD_INPUT: closeCodes.badRequest,
  CONFLICT: closeCodes.badRequest,
  UNAUTHENTICATED: closeCodes.unauthenticated,
  FORBIDDEN: closeCodes.forbidden,
  NOT_FOUND: closeCodes.notFound,
  SSH_UNREACHABLE: closeCodes.boxUnavailable,
  SSH_AUTH_FAILED: closeCodes.boxUnavailable,
  SSH_HOST_KEY_MISMATCH: closeCodes.boxUnavailable,
  SSH_TIMEOUT: closeCodes.boxUnavailable,
  SSH_DISCONNECTED: closeCodes.boxUnavailable,
  REMOTE_COMMAND_FAILED: closeCodes.boxUnavailable,
  INTERNAL: INTERNAL_ERROR,
};

const internalFailure: Refusal = { code: INTERNAL_ERROR, reason: 'Something went wrong on the dashboard; the error is in its log.' };

/** What to close a terminal's WebSocket with after `error`; AppErrors keep their plain message. */
export function refusalFor(error: unknown): Refusal {
  if (error instanceof TerminalRefusal) return { code: error.code, reason: error.reason };
  if (isAppError(error) && error.code !== 'INTERNAL') return { code: closeCodeFor[error.code], reason: error.message };
  return internalFailure;
}

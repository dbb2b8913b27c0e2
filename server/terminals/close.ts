import { appErrorStatus, INTERNAL_FAILURE_MESSAGE, isAppError, WS_INTERNAL_ERROR } from '../errors';

/** WebSocket close reasons are limited to 123 bytes; the protocol keeps them to 120 so the UI can show them whole. */
export const MAX_CLOSE_REASON_BYTES = 120;

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

const internalFailure: Refusal = { code: WS_INTERNAL_ERROR, reason: INTERNAL_FAILURE_MESSAGE };

/** What to close a terminal's WebSocket with after `error`; AppErrors keep their plain message. */
export function refusalFor(error: unknown): Refusal {
  if (error instanceof TerminalRefusal) return { code: error.code, reason: error.reason };
  if (isAppError(error) && error.code !== 'INTERNAL') return { code: appErrorStatus[error.code].ws, reason: error.message };
  return internalFailure;
}

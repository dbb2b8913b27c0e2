import { z } from './zod';
import { recordId } from './validation';

/**
 * The terminal WebSocket protocol, shared by the browser (components/terminal) and the server
 * (server/terminals). One WebSocket attaches one browser terminal to one server-side session.
 *
 * URL: /api/terminal?session=<uuid>&box=<boxId>[&container=<name>]&cols=<n>&rows=<n>&mode=new|attach
 *   session    made by the client (crypto.randomUUID) and kept in the page URL, so a reload re-attaches
 *   mode       "new" opens the session if it does not exist yet; "attach" only re-attaches (a session that
 *              is gone is reported as ended instead of silently starting a fresh shell)
 *
 * Client -> server: text frames holding one JSON ClientMessage.
 * Server -> client: binary frames are terminal output bytes, in order; text frames hold one JSON ServerMessage.
 * Flow control: the client acks the output bytes its terminal has processed (xterm's write callback), replayed
 * bytes included; each ack carries the bytes processed since the previous ack on this WebSocket (a delta, not a
 * running total), so a client may batch them (e.g. every 64 KiB). The server pauses the SSH channel while more
 * than highWatermarkBytes sent on this WebSocket are unacked and resumes below lowWatermarkBytes.
 */

export const TERMINAL_PATH = '/api/terminal';

export const limits = {
  /** One input message (a paste), in UTF-8 bytes; larger pastes are split by the client. */
  maxInputBytes: 64 * 1024,
  /**
   * Any frame from the client; the server drops the connection above it. An input message of maxInputBytes stays
   * below it unless most of it is control characters, which JSON escapes to 6 bytes each.
   */
  maxMessageBytes: 128 * 1024,
  cols: { min: 2, max: 1000 },
  rows: { min: 1, max: 1000 },
  highWatermarkBytes: 1024 * 1024,
  lowWatermarkBytes: 256 * 1024,
} as const;

/** UTF-8 size of a string without encoding it (works in the browser and in Node). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair: one astral character
      i++;
    } else bytes += 3; // includes a lone surrogate, which TextEncoder sends as U+FFFD (3 bytes)
  }
  return bytes;
}

export const sessionStates = ['starting', 'ready', 'closing', 'done'] as const;
export type SessionState = (typeof sessionStates)[number];

const cols = z
  .number()
  .int()
  .min(limits.cols.min, `A terminal is at least ${limits.cols.min} columns wide.`)
  .max(limits.cols.max, `A terminal is at most ${limits.cols.max} columns wide.`);
const rows = z
  .number()
  .int()
  .min(limits.rows.min, `A terminal is at least ${limits.rows.min} row high.`)
  .max(limits.rows.max, `A terminal is at most ${limits.rows.max} rows high.`);

export const clientMessage = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('input'),
    // Counted in UTF-8 bytes, as the name says: 64 Ki characters of CJK text would be 192 KiB on the wire and
    // exceed maxMessageBytes, which drops the connection instead of refusing one message.
    data: z.string().refine((data) => utf8Length(data) <= limits.maxInputBytes, 'Input message too long; send it in smaller pieces.'),
  }),
  z.object({ type: z.literal('resize'), cols, rows }),
  z.object({ type: z.literal('ack'), bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
  z.object({ type: z.literal('close') }),
]);
export type ClientMessage = z.infer<typeof clientMessage>;

export type ServerMessage =
  | { type: 'state'; state: SessionState; reason?: string }
  /** The next `bytes` bytes of binary output replay the session's recent history (after a re-attach). */
  | { type: 'replay'; bytes: number }
  /** A refused message; the session goes on. */
  | { type: 'error'; message: string };

export const connectParams = z.object({
  session: z.uuid('The session id must be a UUID.'),
  box: recordId,
  container: z
    .string()
    .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'Not a container name or id.')
    .optional(),
  cols: z.coerce.number().pipe(cols),
  rows: z.coerce.number().pipe(rows),
  mode: z.enum(['new', 'attach']).default('new'),
});
export type ConnectParams = z.infer<typeof connectParams>;

/**
 * WebSocket close codes with a reason the UI shows. Refusals happen before any PTY is opened. The browser
 * reconnects only after codes that are not final (a dropped network, 1006).
 */
export const closeCodes = {
  badRequest: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  notFound: 4404,
  /** The session ended (shell exited, idle timeout, closed by its user or an admin). */
  ended: 4409,
  /** The box could not be reached or refused us (unreachable, auth failed, host key changed). */
  boxUnavailable: 4502,
  /** Another browser tab attached to the same session. */
  replaced: 4000,
  /** The dashboard is shutting down (standard "service restart"). */
  serviceRestart: 1012,
} as const;

/** Close codes after which reconnecting cannot help. */
export const finalCloseCodes: ReadonlySet<number> = new Set([
  closeCodes.badRequest,
  closeCodes.unauthenticated,
  closeCodes.forbidden,
  closeCodes.notFound,
  closeCodes.ended,
  closeCodes.boxUnavailable,
  closeCodes.replaced,
  closeCodes.serviceRestart,
]);

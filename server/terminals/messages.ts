import type { RawData } from 'ws';
import { clientMessage, limits, type ClientMessage } from '../../lib/terminal-protocol';

export type ParsedClientMessage = { ok: true; message: ClientMessage } | { ok: false; reason: string };

const messageTypes: readonly string[] = clientMessage.options.map((option) => option.shape.type.value);

function refuse(reason: string): ParsedClientMessage {
  return { ok: false, reason };
}

function frameBytes(data: RawData | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/**
 * Reads one WebSocket frame from the browser as a ClientMessage (lib/terminal-protocol.ts). Refusals carry a reason
 * written for the person at the terminal; the caller reports it in an `error` message and the session goes on.
 */
export function parseClientMessage(data: RawData | string, isBinary: boolean): ParsedClientMessage {
  if (isBinary) return refuse('Binary messages are not accepted; send JSON text messages.');
  const bytes = frameBytes(data);
  // ws already drops frames above maxPayload; this keeps the function safe for any other caller.
  if (bytes.length > limits.maxMessageBytes) {
    return refuse(`Message too long (${bytes.length} bytes, at most ${limits.maxMessageBytes}); send it in smaller pieces.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    return refuse('The message is not valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return refuse('A message must be a JSON object with a "type".');
  const type: unknown = (json as { type?: unknown }).type;
  if (typeof type !== 'string' || !messageTypes.includes(type)) {
    const shown = typeof type === 'string' ? `"${type.slice(0, 40)}"` : 'missing';
    return refuse(`Unknown message type (${shown}); expected one of ${messageTypes.join(', ')}.`);
  }
  const parsed = clientMessage.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message));
    return refuse(`Refused ${type} message: ${problems.join('; ')}`);
  }
  return { ok: true, message: parsed.data };
}

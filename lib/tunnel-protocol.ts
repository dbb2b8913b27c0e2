import { z } from './zod';
import { closeCodes } from './terminal-protocol';

/**
 * The tunnel WebSocket protocol, shared by the CLI (`boxyard proxy`, cli/proxy.ts) and the server (server/tunnels).
 * One WebSocket carries one TCP stream to a port on a box's own loopback, through the box's pooled SSH connection.
 *
 * URL: /api/tunnel?box=<box id or name>&port=<1-65535, default 22>
 *   Authenticated like every request (identify()): `Authorization: Bearer <API token>` (the CLI), or the session
 *   cookie, then only from the dashboard's own Origin.
 *
 * Before the stream: the server sends text frames holding one JSON TunnelServerMessage ("waking" while a sleeping box
 * is woken, then "ready"). From "ready" on, binary frames both ways are the TCP stream's bytes, in order; the server
 * reads nothing from the client before "ready" (bytes sent early wait in the socket) and closes on a text frame.
 * Flow control is the WebSocket's own backpressure: the server stops reading the box while its socket buffer to the
 * client holds more than highWatermarkBytes, and stops reading the client while the box's side is not draining.
 *
 * Close codes: those of the terminal protocol (refusals 44xx through server/errors.ts appErrorStatus, box unreachable
 * or the port closed 4502, the dashboard restarting 1012), plus 1000 when the box's side of the stream ended.
 */

export const TUNNEL_PATH = '/api/tunnel';

export const tunnelParams = z.object({
  box: z.string().min(1, 'Say which box (its id or name).').max(200),
  port: z.coerce.number().int().min(1, 'A port is 1-65535.').max(65535, 'A port is 1-65535.').default(22),
});
export type TunnelParams = z.infer<typeof tunnelParams>;

export type TunnelServerMessage =
  /** The box sleeps and is being woken; `state` is what it was (suspended, paused, stopped, or a wake under way). */
  | { type: 'waking'; state: string }
  /** The stream is open: binary frames from here on. */
  | { type: 'ready' };

export const tunnelLimits = {
  /** Any frame from the client; the server drops the connection above it. */
  maxFrameBytes: 1024 * 1024,
  highWatermarkBytes: 1024 * 1024,
  lowWatermarkBytes: 256 * 1024,
} as const;

export const tunnelCloseCodes = {
  ...closeCodes,
  /** The box's side of the TCP stream closed (the ssh session ended). */
  streamEnded: 1000,
} as const;

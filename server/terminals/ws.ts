import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { closeCodes, connectParams, limits, TERMINAL_PATH } from '../../lib/terminal-protocol';
import { getBoxRow } from '../boxes/boxes';
import { logger } from '../log';
import type { Services } from '../services';
import { createContext } from '../trpc/init';
import { INTERNAL_ERROR, refusalFor, TerminalRefusal } from './close';
import { close, type EarlyFrame } from './session';

const log = logger.child({ module: 'terminals' });

/** Frames a client may send while it is being admitted (a few ms of database lookups); more is not a browser. */
const MAX_EARLY_BYTES = 4 * limits.maxMessageBytes;

/**
 * The terminal WebSocket endpoint (lib/terminal-protocol.ts). Returns an 'upgrade' listener body that answers
 * TERMINAL_PATH and returns false for every other path, which stays with whoever else listens (Next's HMR).
 *
 * A foreign Origin is refused with HTTP 403 before any upgrade: the session cookie would otherwise let any web page
 * open a shell on the user's boxes. Every later refusal completes the upgrade and closes at once with the protocol's
 * close code and a short reason, so the browser can show why; none of them opens a PTY.
 */
export function createTerminalUpgradeHandler(services: Services): (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean {
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  const dashboardOrigin = new URL(services.env.publicUrl).origin;

  return (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    if (url.pathname !== TERMINAL_PATH) return false;
    if (req.headers.origin !== dashboardOrigin) {
      log.warn({ origin: req.headers.origin ?? null }, 'terminal WebSocket refused: foreign origin');
      refuseUpgrade(socket, 403, 'Forbidden', 'This origin may not open terminals.');
      return true;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void admit(services, req, url, ws));
    return true;
  };
}

/** Checks who asks for which session on which box, then hands the socket to the TerminalManager. */
async function admit(services: Services, req: IncomingMessage, url: URL, ws: WebSocket): Promise<void> {
  ws.on('error', (error) => log.warn({ err: error.message }, 'terminal WebSocket error'));
  // Listen at once: the browser may type before we have looked the session up, and nothing may be lost.
  const early: EarlyFrame[] = [];
  let earlyBytes = 0;
  const hold = (data: RawData, isBinary: boolean) => {
    early.push([data, isBinary]);
    earlyBytes += Array.isArray(data) ? data.reduce((sum, part) => sum + part.length, 0) : data.byteLength;
    if (earlyBytes > MAX_EARLY_BYTES) close(ws, closeCodes.badRequest, 'Too much input before the terminal was ready.');
  };
  ws.on('message', hold);

  try {
    const parsed = connectParams.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) {
      throw new TerminalRefusal(closeCodes.badRequest, parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    }
    const params = parsed.data;
    const { user } = await createContext(services, req);
    if (!user) throw new TerminalRefusal(closeCodes.unauthenticated, 'Sign in first (your session may have expired).');
    const box = await getBoxRow(services.db, user, params.box);
    if (ws.readyState !== ws.OPEN) return; // gone (or refused for flooding) while we looked
    ws.off('message', hold);
    const refusal = services.terminals.connect(
      { sessionId: params.session, user, box: { id: box.id, name: box.name }, container: params.container ?? null, cols: params.cols, rows: params.rows, mode: params.mode },
      ws,
      early,
    );
    if (refusal) close(ws, refusal.code, refusal.reason);
  } catch (error) {
    const refusal = refusalFor(error);
    if (refusal.code === INTERNAL_ERROR) log.error({ err: error }, 'terminal WebSocket admission failed');
    close(ws, refusal.code, refusal.reason);
  }
}

/** Answers an upgrade request with a plain HTTP error instead of switching protocols. */
function refuseUpgrade(socket: Duplex, status: number, statusText: string, body: string): void {
  socket.once('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

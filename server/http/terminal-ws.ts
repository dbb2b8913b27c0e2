import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { closeCodes, connectParams, limits } from '../../lib/terminal-protocol';
import { issuesSentence } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import { WS_INTERNAL_ERROR } from '../errors';
import { logger } from '../log';
import { refusalFor, TerminalRefusal } from '../terminals/close';
import type { TerminalManager } from '../terminals/manager';
import { close, type EarlyFrame } from '../terminals/session';
import { recheckAccess } from './access-recheck';
import { identityRefusalMessage, type SocketRouteDeps } from './identity';

const log = logger.child({ module: 'terminals' });

/** Frames a client may send while it is being admitted (a few ms of database lookups); more is not a browser. */
const MAX_EARLY_BYTES = 4 * limits.maxMessageBytes;

export interface TerminalRouteDeps extends SocketRouteDeps {
  terminals: TerminalManager;
}

/**
 * The terminal WebSocket endpoint (lib/terminal-protocol.ts, TERMINAL_PATH), an upgrade route of the edge.
 *
 * The edge admits only the dashboard's own Origin here (a browser-only route, server/http/origin.ts), with HTTP 403
 * before any upgrade: the session cookie would otherwise let any web page open a shell on the user's boxes. Every refusal here completes the upgrade and closes at once with the protocol's
 * close code and a short reason, so the browser can show why; none of them opens a PTY.
 */
export function createTerminalRoute(deps: TerminalRouteDeps): (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  return (req, socket, head, url) => {
    wss.handleUpgrade(req, socket, head, (ws) => void admit(deps, req, url, ws));
  };
}

/** Checks who asks for which session on which box, then hands the socket to the TerminalManager. */
async function admit(deps: TerminalRouteDeps, req: IncomingMessage, url: URL, ws: WebSocket): Promise<void> {
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
      throw new TerminalRefusal(closeCodes.badRequest, issuesSentence(parsed.error));
    }
    const params = parsed.data;
    const identity = await deps.identify(req);
    if (!identity.user) throw new TerminalRefusal(closeCodes.unauthenticated, identityRefusalMessage(identity.refusal));
    const { user } = identity;
    const box = await getBoxRow(deps.db, user, params.box);
    if (ws.readyState !== ws.OPEN) return; // gone (or refused for flooding) while we looked
    ws.off('message', hold);
    const reached = { id: box.id, name: box.name };
    const refusal = deps.terminals.connect(
      {
        sessionId: params.session,
        user,
        box: reached,
        container: params.container ?? null,
        cols: params.cols,
        rows: params.rows,
        mode: params.mode,
        recheck: recheckAccess(deps, req, user, reached),
      },
      ws,
      early,
    );
    if (refusal) close(ws, refusal.code, refusal.reason);
  } catch (error) {
    const refusal = refusalFor(error);
    if (refusal.code === WS_INTERNAL_ERROR) log.error({ err: error }, 'terminal WebSocket admission failed');
    close(ws, refusal.code, refusal.reason);
  }
}

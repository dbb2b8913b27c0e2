import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { closeCodes, connectParams, limits } from '../../lib/terminal-protocol';
import { issuesSentence } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import { INTERNAL_AUTH_HEADER, SESSION_PROCESS_STOPPED, type TerminalSessionDirectory } from '../cluster/terminal-sessions';
import { WS_INTERNAL_ERROR } from '../errors';
import { logger } from '../log';
import { refusalFor, TerminalRefusal } from '../terminals/close';
import type { TerminalManager } from '../terminals/manager';
import { close, type EarlyFrame } from '../terminals/session';
import { recheckAccess } from './access-recheck';
import type { ClientAddress } from './client-address';
import { refuseUpgrade } from './responses';
import { identityRefusalMessage, type SocketRouteDeps } from './identity';

const log = logger.child({ module: 'terminals' });

/** Frames a client may send while it is being admitted (a few ms of database lookups); more is not a browser. */
const MAX_EARLY_BYTES = 4 * limits.maxMessageBytes;

export interface TerminalRouteDeps extends SocketRouteDeps {
  terminals: TerminalManager;
  clientAddress: ClientAddress;
  /** Several processes on PostgreSQL: a session another process holds is forwarded to it; null serves all here. */
  directory: TerminalSessionDirectory | null;
}

/** The route on which a dashboard process takes a terminal WebSocket another process forwards (never a browser's). */
export const INTERNAL_TERMINAL_PATH = '/api/internal/terminal';
/** The browser's address as the forwarding process resolved it; believed only on INTERNAL_TERMINAL_PATH. */
const FORWARDED_CLIENT_HEADER = 'x-boxyard-forwarded-client';

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
    wss.handleUpgrade(req, socket, head, (ws) => void admit(deps, req, url, ws, { forwarded: false }));
  };
}

/**
 * INTERNAL_TERMINAL_PATH: the same admission as a browser's (identity from the forwarded cookie or token, box access),
 * for a socket another dashboard process forwards, which proves itself with INTERNAL_AUTH_HEADER. Served here, never
 * forwarded again. HTTP 403 before any upgrade for anyone else.
 */
export function createInternalTerminalRoute(deps: TerminalRouteDeps & { directory: TerminalSessionDirectory }): (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });
  return (req, socket, head, url) => {
    if (!deps.directory.acceptsInternal(req.headers[INTERNAL_AUTH_HEADER])) {
      refuseUpgrade(socket, 403, 'Forbidden', 'This route is for the dashboard\'s own processes.');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void admit(deps, req, url, ws, { forwarded: true }));
  };
}

/** Checks who asks for which session on which box, then hands the socket to the TerminalManager. */
async function admit(deps: TerminalRouteDeps, req: IncomingMessage, url: URL, ws: WebSocket, via: { forwarded: boolean }): Promise<void> {
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
    const { directory } = deps;
    let claimed = false;
    if (directory && !via.forwarded && !deps.terminals.holds(params.session)) {
      let place = await directory.locate(params.session);
      // New sessions open on the process that received them; two processes racing for one id: the first record wins.
      if (place.kind === 'here' && params.mode === 'new') {
        claimed = await directory.claim(params.session, user.id, box.id);
        if (!claimed) place = await directory.locate(params.session);
      }
      if (place.kind !== 'here') {
        if (place.userId !== user.id) throw new TerminalRefusal(closeCodes.forbidden, 'This terminal session belongs to someone else.');
        if (place.boxId !== box.id) throw new TerminalRefusal(closeCodes.badRequest, 'This terminal session belongs to another box or container.');
        if (place.kind === 'lost') {
          await directory.forget(params.session);
          throw new TerminalRefusal(closeCodes.ended, SESSION_PROCESS_STOPPED);
        }
        if (ws.readyState !== ws.OPEN) return;
        ws.off('message', hold);
        forward(ws, early, req, url, place.address, { [INTERNAL_AUTH_HEADER]: directory.internalToken(), [FORWARDED_CLIENT_HEADER]: deps.clientAddress(req) });
        return;
      }
    }
    if (ws.readyState !== ws.OPEN) {
      if (claimed) await directory?.release(params.session);
      return; // gone (or refused for flooding) while we looked
    }
    ws.off('message', hold);
    const reached = { id: box.id, name: box.name };
    const forwardedClient = req.headers[FORWARDED_CLIENT_HEADER];
    const address = via.forwarded && typeof forwardedClient === 'string' ? forwardedClient : deps.clientAddress(req);
    const refusal = deps.terminals.connect(
      {
        sessionId: params.session,
        user,
        box: reached,
        container: params.container ?? null,
        address,
        cols: params.cols,
        rows: params.rows,
        mode: params.mode,
        recheck: recheckAccess(deps, req, user, reached),
      },
      ws,
      early,
    );
    if (refusal) {
      if (claimed) await directory?.release(params.session);
      close(ws, refusal.code, refusal.reason);
    }
  } catch (error) {
    const refusal = refusalFor(error);
    if (refusal.code === WS_INTERNAL_ERROR) log.error({ err: error }, 'terminal WebSocket admission failed');
    close(ws, refusal.code, refusal.reason);
  }
}

/** Close codes a server may send on (RFC 6455: not 1005, 1006, 1015); anything else means the other end vanished. */
const sendableCloseCode = (code: number) => (code >= 1000 && code <= 1014 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

/**
 * Relays the browser's socket to the process holding its session (INTERNAL_TERMINAL_PATH at `address`), frame for
 * frame both ways: the protocol's acks flow through, so flow control holds end to end. The holder's close code and
 * reason reach the browser as they are; the holder vanishing (killed) reaches it as the session's plain end.
 */
function forward(ws: WebSocket, early: EarlyFrame[], req: IncomingMessage, url: URL, address: string, internal: Record<string, string>): void {
  // The browser's credentials and Origin: the holder admits the socket by the same rules, and rechecks access with them.
  const headers: Record<string, string> = { ...internal };
  if (req.headers.origin) headers.origin = req.headers.origin;
  if (req.headers.cookie) headers.cookie = req.headers.cookie;
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  const upstream = new WebSocket(`${address.replace(/^http/, 'ws')}${INTERNAL_TERMINAL_PATH}${url.search}`, { headers, maxPayload: limits.maxMessageBytes });
  const queued = [...early];
  ws.on('message', (data, isBinary) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(data as Buffer, { binary: isBinary });
    else queued.push([data, isBinary]);
  });
  upstream.on('open', () => {
    for (const [data, isBinary] of queued.splice(0)) upstream.send(data as Buffer, { binary: isBinary });
  });
  upstream.on('message', (data, isBinary) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(data as Buffer, { binary: isBinary });
  });
  upstream.on('error', (error) => log.warn({ err: error.message, address }, 'forwarded terminal: the holding process could not be reached'));
  upstream.on('close', (code, reason) => {
    if (sendableCloseCode(code)) close(ws, code, reason.toString());
    else close(ws, closeCodes.ended, SESSION_PROCESS_STOPPED);
  });
  ws.on('close', (code, reason) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.close(sendableCloseCode(code) ? code : 1000, reason.toString());
    else upstream.terminate();
  });
}

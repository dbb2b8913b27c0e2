import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { tunnelLimits, tunnelParams } from '../../lib/tunnel-protocol';
import { issuesSentence } from '../../lib/validation';
import { getBoxRow } from '../boxes/boxes';
import type { SessionUser } from '../boxes/access';
import { AppError, WS_INTERNAL_ERROR } from '../errors';
import { logger } from '../log';
import { refusalFor } from '../terminals/close';
import type { TunnelService } from '../tunnels/service';
import { closeSocket } from '../tunnels/tunnel';
import { recheckAccess } from './access-recheck';
import type { ClientAddress } from './client-address';
import { identityRefusalMessage, type SocketRouteDeps } from './identity';

const log = logger.child({ module: 'tunnels' });

export interface TunnelRouteDeps extends SocketRouteDeps {
  tunnels: TunnelService;
  clientAddress: ClientAddress;
}

/**
 * The tunnel WebSocket endpoint (lib/tunnel-protocol.ts, TUNNEL_PATH), an upgrade route of the edge.
 *
 * The edge checked the Origin before the upgrade (server/http/origin.ts): a request that carries an API token (the CLI)
 * is judged by it alone and needs none, as a web page cannot set the Authorization header of a WebSocket; one that
 * relies on the session cookie must come from the dashboard's own pages (one with neither is told to sign in, 4401).
 * Every refusal here completes the upgrade and closes at once with the close code of its AppError (server/errors.ts) and a reason the CLI prints.
 */
export function createTunnelRoute(deps: TunnelRouteDeps): (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: tunnelLimits.maxFrameBytes, perMessageDeflate: false });
  return (req, socket, head, url) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Nothing is read from the client until the stream is open: its early bytes (ssh's banner) wait in the socket.
      ws.pause();
      void admit(deps, req, url, ws);
    });
  };
}

/** Who may reach which box: the identity of the request, then the access-checked box by id or name. */
async function reachableBox(deps: TunnelRouteDeps, req: IncomingMessage, box: string): Promise<{ user: SessionUser; via: 'session' | 'api-token'; box: { id: string; name: string } }> {
  const identity = await deps.identify(req);
  if (!identity.user) throw new AppError('UNAUTHENTICATED', identityRefusalMessage(identity.refusal));
  const byName = await deps.db.box.findUnique({ where: { name: box }, select: { id: true } });
  // Unknown and not theirs get the same answer (getBoxRow's), so names cannot be probed.
  const row = await getBoxRow(deps.db, identity.user, byName?.id ?? box);
  return { user: identity.user, via: identity.via, box: { id: row.id, name: row.name } };
}

async function admit(deps: TunnelRouteDeps, req: IncomingMessage, url: URL, ws: WebSocket): Promise<void> {
  ws.on('error', (error) => log.warn({ err: error.message }, 'tunnel WebSocket error'));
  try {
    const parsed = tunnelParams.safeParse(Object.fromEntries(url.searchParams));
    if (!parsed.success) throw new AppError('BAD_INPUT', issuesSentence(parsed.error));
    const { box: asked, port } = parsed.data;
    const { user, via, box } = await reachableBox(deps, req, asked);
    if (ws.readyState !== ws.OPEN) return;
    deps.tunnels.open({ user, box, port, via, address: deps.clientAddress(req), recheck: recheckAccess(deps, req, user, box) }, ws);
  } catch (error) {
    const refusal = refusalFor(error);
    if (refusal.code === WS_INTERNAL_ERROR) log.error({ err: error }, 'tunnel WebSocket admission failed');
    closeSocket(ws, refusal);
  }
}

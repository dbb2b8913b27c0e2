import type { WebSocket } from 'ws';
import { tunnelCloseCodes } from '../../lib/tunnel-protocol';
import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import type { AccessRecheck, AccessWatch } from '../boxes/access-watch';
import type { BoxRemote } from '../boxes/remote';
import type { Db } from '../db/client';
import { WS_INTERNAL_ERROR } from '../errors';
import { logger } from '../log';
import { refusalFor } from '../terminals/close';
import { closeSocket, sendTunnelMessage, TunnelPipe, type TunnelEnding, type TunnelStats } from './tunnel';

const log = logger.child({ module: 'tunnels' });

/**
 * Wakes a sleeping box before the tunnel opens (server/vms wakeOnDemand, plugged in by services.ts); calls `onWaking`
 * with the box's state when it actually has to wake it, and resolves once the box answers SSH.
 */
export type WakeBoxFn = (boxId: string, actor: SessionUser, onWaking: (state: string) => void) => Promise<void>;

export interface TunnelServiceOptions {
  db: Db;
  remote: Pick<BoxRemote, 'openTunnel'>;
  wakeBox: WakeBoxFn;
  /** Ends a tunnel whose user may no longer reach its box (or whose token or session went away). */
  access: AccessWatch;
  /** Waiting for the SSH connection and a free channel slot, once the box is awake. */
  openTimeoutMs?: number;
}

/** A WebSocket asking for a tunnel, after the edge checked who is asking and that the box is theirs. */
export interface TunnelRequest {
  user: SessionUser;
  box: { id: string; name: string };
  port: number;
  /** How the client signed in (the audit says it). */
  via: 'session' | 'api-token';
  /** The client's address (server/http/client-address.ts), for the audit. */
  address: string;
  /** Asks again whether this user may still reach this box (identity and box access, as on open), for the AccessWatch. */
  recheck: AccessRecheck;
}

interface OpenTunnel {
  request: TunnelRequest;
  socket: WebSocket;
  pipe: TunnelPipe | null;
  openedAt: number;
  /** Ends the tunnel before its pipe exists (waking, opening). */
  abort: AbortController;
  unwatch: () => void;
}

const DEFAULT_OPEN_TIMEOUT_MS = 20_000;

/** What a port is for, in the idle reasons ("tunnel open: ssh by ..."). */
function portName(port: number): string {
  return port === 22 ? 'ssh' : `port ${port}`;
}

/**
 * The tunnels of this dashboard process: each one wakes its box, opens a forwarded channel through the box's pooled
 * SSH connection, copies bytes with flow control (TunnelPipe), keeps checking its user's access, and is audited at
 * open and close. stop() ends every tunnel with the service-restart close code.
 */
export class TunnelService {
  private readonly tunnels = new Set<OpenTunnel>();
  private readonly pending = new Set<Promise<unknown>>();
  private running = false;

  constructor(private readonly options: TunnelServiceOptions) {}

  start(): void {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    const ending: TunnelEnding = { code: tunnelCloseCodes.serviceRestart, reason: 'the dashboard is restarting; connect again in a moment' };
    for (const tunnel of this.tunnels) this.end(tunnel, ending);
    while (this.pending.size) await Promise.all(this.pending);
  }

  /** Takes the (paused) socket: wakes the box, opens the stream, then pipes; every failure closes the socket. */
  open(request: TunnelRequest, socket: WebSocket): void {
    if (!this.running) {
      closeSocket(socket, { code: tunnelCloseCodes.serviceRestart, reason: 'the dashboard is restarting; connect again in a moment' });
      return;
    }
    const tunnel: OpenTunnel = { request, socket, pipe: null, openedAt: Date.now(), abort: new AbortController(), unwatch: () => undefined };
    this.tunnels.add(tunnel);
    // Watched from the start: access removed while the box wakes ends the wait too.
    tunnel.unwatch = this.options.access.watch(request.recheck, (error) => this.end(tunnel, refusalFor(error)));
    socket.once('close', () => tunnel.abort.abort({ code: tunnelCloseCodes.streamEnded, reason: 'the client went away while the tunnel opened' } satisfies TunnelEnding));
    this.track(this.run(tunnel));
  }

  /** Open tunnels to one box, as the idle reasons word them (metrics' TunnelActivity port). */
  tunnelsOn(boxId: string): string[] {
    return [...this.tunnels]
      .filter((tunnel) => tunnel.request.box.id === boxId)
      .map(({ request }) => `${portName(request.port)} by ${request.user.email}`);
  }

  stats(): { tunnels: number } & Omit<TunnelStats, 'channelPaused' | 'socketPaused'> {
    const sum = { tunnels: this.tunnels.size, bytesUp: 0, bytesDown: 0, socketBufferedBytes: 0, channelBufferedBytes: 0 };
    for (const { pipe } of this.tunnels) {
      const one = pipe?.stats();
      if (!one) continue;
      sum.bytesUp += one.bytesUp;
      sum.bytesDown += one.bytesDown;
      sum.socketBufferedBytes += one.socketBufferedBytes;
      sum.channelBufferedBytes += one.channelBufferedBytes;
    }
    return sum;
  }

  private async run(tunnel: OpenTunnel): Promise<void> {
    const { request, abort, socket } = tunnel;
    const { box, port, user } = request;
    try {
      await this.options.wakeBox(box.id, user, (state) => sendTunnelMessage(socket, { type: 'waking', state }));
      abort.signal.throwIfAborted();
      const opened = await this.options.remote.openTunnel(box.id, port, {
        timeoutMs: this.options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS,
        signal: abort.signal,
      });
      if (abort.signal.aborted) {
        opened.close();
        abort.signal.throwIfAborted();
      }
      sendTunnelMessage(socket, { type: 'ready' });
      tunnel.pipe = new TunnelPipe(socket, opened.channel, () => opened.close());
      this.audit(tunnel, 'tunnel.open', user, {});
    } catch (error) {
      this.tunnels.delete(tunnel);
      tunnel.unwatch();
      // Aborted: the client went away, or stop() closed the socket already.
      const refusal: TunnelEnding = abort.signal.aborted ? (abort.signal.reason as TunnelEnding) : refusalFor(error);
      if (refusal.code === WS_INTERNAL_ERROR) log.error({ err: error, box: box.id, port }, 'tunnel failed to open');
      closeSocket(socket, refusal);
      this.audit(tunnel, 'tunnel.open', user, {}, refusal.reason);
      return;
    }
    const ending = await tunnel.pipe.done;
    this.tunnels.delete(tunnel);
    tunnel.unwatch();
    const { bytesUp, bytesDown } = tunnel.pipe;
    this.audit(tunnel, 'tunnel.close', user, { reason: ending.reason, code: ending.code, bytesUp, bytesDown, durationMs: Date.now() - tunnel.openedAt });
  }

  private end(tunnel: OpenTunnel, ending: TunnelEnding): void {
    if (tunnel.pipe) return tunnel.pipe.end(ending);
    tunnel.abort.abort(ending);
    closeSocket(tunnel.socket, ending);
  }

  private audit(tunnel: OpenTunnel, action: 'tunnel.open' | 'tunnel.close', actor: SessionUser, detail: Record<string, unknown>, error?: string): void {
    const { request } = tunnel;
    this.track(
      recordAudit(this.options.db, {
        actor,
        action,
        box: request.box,
        detail: { user: request.user.email, port: request.port, via: request.via, address: request.address, ...detail },
        result: error === undefined ? 'ok' : 'error',
        error,
      }),
    );
  }

  private track(work: Promise<unknown>): void {
    this.pending.add(work);
    void work.finally(() => this.pending.delete(work));
  }
}

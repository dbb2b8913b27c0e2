// A client of the tunnel protocol (lib/tunnel-protocol.ts) as `boxyard proxy` speaks it, for tests of the endpoint;
// and a dashboard whose tunnels wake boxes through a wake step the test gives.
import { WebSocket } from 'ws';
import { TUNNEL_PATH, type TunnelServerMessage } from '../../lib/tunnel-protocol';
import { TunnelService, type WakeBoxFn } from '../../server/tunnels/service';
import type { Backend } from './terminals';
import { until } from './wait';

/**
 * One more listener on `backend`'s services, with a tunnel service of its own whose wake step is `wakeBox` (a box
 * that "sleeps" without a VM). Resolves with its ws:// base URL and that service, which the test stops.
 */
export async function listenWithWake(backend: Backend, wakeBox: WakeBoxFn): Promise<{ url: string; tunnels: TunnelService }> {
  const { db, remote, access } = backend.services;
  const tunnels = new TunnelService({ db, remote, access, wakeBox });
  tunnels.start();
  return { url: await backend.listen({ ...backend.services, tunnels }), tunnels };
}

/** A test client of the tunnel protocol: the messages before the stream, the stream's bytes, the close. */
export class TunnelClient {
  readonly ws: WebSocket;
  readonly messages: TunnelServerMessage[] = [];
  received = 0;
  firstBytes = Buffer.alloc(0);
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly refusedStatus: Promise<number>;

  constructor(base: string, query: Record<string, string>, headers: Record<string, string>) {
    this.ws = new WebSocket(`${base}${TUNNEL_PATH}?${new URLSearchParams(query)}`, { headers, perMessageDeflate: false });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    this.refusedStatus = new Promise((resolve) => this.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data: Buffer, isBinary) => {
      if (!isBinary) return void this.messages.push(JSON.parse(data.toString()) as TunnelServerMessage);
      if (this.firstBytes.length < 64) this.firstBytes = Buffer.concat([this.firstBytes, data]).subarray(0, 64);
      this.received += data.length;
    });
  }

  ready(): Promise<unknown> {
    return until(() => this.messages.some((m) => m.type === 'ready'), 'the ready frame', 20_000);
  }
}

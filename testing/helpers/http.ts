// Plain HTTP and WebSocket requests over real sockets, from a chosen local address: on Linux every 127.x.y.z is the
// loopback, so one test machine can be many clients (and a proxy) to the edge's address checks.
import { request } from 'node:http';
import { WebSocket } from 'ws';

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  /** The client's own address (the socket's source), e.g. 127.0.0.2. */
  from?: string;
  headers?: Record<string, string>;
  body?: string | object;
}

/** One HTTP request from `from`; resolves with the whole answer. */
export function httpRequest(url: string, options: RequestOptions = {}): Promise<Answer> {
  const { method = 'GET', from, headers = {}, body } = options;
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        localAddress: from,
        agent: false,
        headers: {
          ...(payload !== undefined && typeof body === 'object' ? { 'content-type': 'application/json' } : {}),
          // Node's client sends a DELETE body without a length otherwise, which its own server rejects as malformed.
          ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * A WebSocket upgrade; resolves with the HTTP status of a refusal, or 101 once it opened (the socket is closed then:
 * what the route does after admitting is another test's business).
 */
export function upgradeStatus(url: string, options: { origin?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin: options.origin, headers: options.headers });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    ws.once('error', (error) => {
      if (ws.readyState !== WebSocket.CLOSED) reject(error);
    });
  });
}

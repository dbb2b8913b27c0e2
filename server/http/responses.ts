import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Small response writers shared by the edge's plain HTTP routes. */

export function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
}

export function sendText(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
}

/** Answers a WebSocket upgrade request with a plain HTTP error instead of switching protocols. */
export function refuseUpgrade(socket: Duplex, status: number, statusText: string, body: string): void {
  socket.once('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${statusText}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

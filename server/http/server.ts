import { createServer, type Server } from 'node:http';
import next from 'next';
import type { Services } from '../services';
import { createEdge } from './edge';

export interface DashboardServer {
  server: Server;
  /** The port it listens on (PORT=0 picks a free one). */
  port: number;
}

/** The one HTTP server of a dashboard process: the edge's routes first, then Next for pages. */
export async function listenDashboard(services: Services): Promise<DashboardServer> {
  const { env } = services;
  const edge = createEdge(services);
  const server = createServer();
  const app = next({ dev: env.NODE_ENV === 'development', hostname: env.HOST, port: env.PORT, httpServer: server, dir: process.cwd() });
  await app.prepare();
  const handlePage = app.getRequestHandler();
  server.on('request', (req, res) => {
    if (!edge.handleRequest(req, res)) void handlePage(req, res);
  });
  // Next adds its own 'upgrade' listener (dev HMR) on its first request: paths that are not ours stay with it.
  server.on('upgrade', (req, socket, head) => {
    edge.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : env.PORT };
}

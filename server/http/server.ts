import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import next from 'next';
import type { Env } from '../env';
import type { Services } from '../services';
import { createEdge } from './edge';

type PageHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface DashboardServer {
  server: Server;
  /**
   * Next's page handler, being prepared from the moment the server exists: Next loads its modules (about a second)
   * while the services start, instead of after them.
   */
  pages: Promise<PageHandler>;
}

export function createDashboardServer(env: Env): DashboardServer {
  const server = createServer();
  const app = next({ dev: env.NODE_ENV === 'development', hostname: env.HOST, port: env.PORT, httpServer: server, dir: process.cwd() });
  const pages = app.prepare().then(() => app.getRequestHandler());
  pages.catch(() => {}); // awaited in listen(); a failure there is the one reported
  return { server, pages };
}

/** Serves the edge's routes first, then Next's pages, and listens; returns the port (PORT=0 picks a free one). */
export async function listenDashboard({ server, pages }: DashboardServer, services: Services): Promise<number> {
  const { env } = services;
  const edge = createEdge(services);
  const handlePage = await pages;
  server.on('request', (req, res) => {
    if (!edge.handleRequest(req, res)) void handlePage(req, res);
  });
  // Next adds its own 'upgrade' listener (dev HMR) on its first request: paths that are not ours stay with it.
  server.on('upgrade', (req, socket, head) => {
    edge.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(env.PORT, env.HOST, resolve));
  const address = server.address();
  return typeof address === 'object' && address ? address.port : env.PORT;
}

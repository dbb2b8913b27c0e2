import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { toNodeHandler } from 'better-auth/node';
import { createCliApiHandler } from './connect/api';
import { createPrometheusHandler } from './metrics/prometheus';
import type { Services } from './services';
import { createContext } from './trpc/init';
import { appRouter } from './trpc/router';

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/**
 * The dashboard's own HTTP routes, served by the custom server before Next sees the request, so all
 * server code (database, SSH pool, secrets) lives in one module graph and never in Next's bundles.
 */
export function createApiHandler(services: Services): (req: IncomingMessage, res: ServerResponse) => boolean {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/api/trpc/',
    createContext: ({ req }) => createContext(services, req),
  });
  const auth = toNodeHandler(services.auth);
  const routes: [string, Handler][] = [
    ['/api/trpc/', trpc],
    ['/api/auth/', auth],
    ['/api/cli/', createCliApiHandler(services.db)],
    ['/metrics', createPrometheusHandler(services.db, services.metrics, services.env.BOXYARD_METRICS_TOKEN)],
    ['/api/health', (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}')],
  ];
  return (req, res) => {
    const path = req.url ?? '/';
    const route = routes.find(([prefix]) => path === prefix || path.startsWith(prefix));
    if (!route) return false;
    void route[1](req, res);
    return true;
  };
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { toNodeHandler } from 'better-auth/node';
import { CLI_FILE_PATH, CLI_INSTALL_PATH, CLI_SHA256_PATH } from '../../lib/cli-distribution';
import { TERMINAL_PATH } from '../../lib/terminal-protocol';
import { TRPC_PATH } from '../../lib/trpc-path';
import { TUNNEL_PATH } from '../../lib/tunnel-protocol';
import { recordAudit, systemActor } from '../audit/audit';
import { CLIENT_ADDRESS_HEADER } from '../auth/sign-in-limits';
import { databaseUnavailable } from '../db/client';
import { appErrorStatus, INTERNAL_FAILURE_MESSAGE, isAppError, type AppError } from '../errors';
import { logger } from '../log';
import type { Services } from '../services';
import { MAX_AUTH_BODY_BYTES, withBodyLimit } from './body-limit';
import { CLI_API_PATH, createCliApiRoute } from './cli-api';
import { BUILT_CLI_DIR, createCliDownloadRoutes } from './cli-download';
import { createClientAddress } from './client-address';
import { createHealthRoute } from './health';
import { identify } from './identity';
import { createMetricsRoute, METRICS_PATH } from './metrics-route';
import { isStateChanging, originRefusal } from './origin';
import { refuseUpgrade, sendJson } from './responses';
import { applySecurityHeaders } from './security-headers';
import { createInternalTerminalRoute, createTerminalRoute, INTERNAL_TERMINAL_PATH } from './terminal-ws';
import { createTrpcRoute } from './trpc-route';
import { createTunnelRoute } from './tunnel-ws';
import { createPreviewRoutes } from './preview-route';
import { PREVIEW_OPEN_PATH } from '../../lib/preview';

/**
 * Every route the dashboard serves itself, HTTP and WebSocket, in two tables; pages are Next's (server.ts).
 * A route matches its path exactly, or, for an API that routes below itself (`subtree`), the path and anything under
 * `path/`: `/metricsx` and `/api/healthz` are not ours and go to Next, which answers 404.
 *
 * Before any route runs, the edge resolves the client's address once (client-address.ts; better-auth gets it as
 * CLIENT_ADDRESS_HEADER, the routes as `clientAddress`), and every state-changing HTTP request and every upgrade, on
 * every route of both tables, passes the Origin rule (origin.ts): a refusal is 403 with one sentence, audited.
 * Before all of it, a request for a preview (a Host under BOXYARD_PREVIEW_DOMAIN, or a /preview/ path) goes to
 * preview-route.ts and nowhere else: a preview origin is never a dashboard origin.
 */

type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;
type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void;

interface Route<Handler> {
  path: string;
  subtree?: boolean;
  /** Only the dashboard's own pages may use it (the Origin must be theirs, whatever the credentials). */
  browserOnly?: boolean;
  handle: Handler;
}

export interface Edge {
  /**
   * Sets the security headers on `res` (every response, pages included), then serves `req` if it is one of the
   * dashboard's own routes; false leaves it to Next.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Takes a WebSocket upgrade on one of our paths; false leaves it to whoever else listens (Next's dev HMR). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Both route tables (tests cover every route from them, a route added later included). */
  readonly routes: EdgeRoutes;
}

const AUTH_PATH = '/api/auth';
const HEALTH_PATH = '/api/health';

export interface EdgeRoutes {
  http: RouteInfo[];
  upgrade: RouteInfo[];
}

interface RouteInfo {
  path: string;
  subtree: boolean;
  browserOnly: boolean;
}

export function createEdge(services: Services): Edge {
  const identifyRequest = (req: IncomingMessage) => identify(services, req.headers);
  const clientAddress = createClientAddress(services.env.BOXYARD_TRUSTED_PROXIES);
  const dashboardOrigin = services.env.publicOrigin;
  const previews = createPreviewRoutes({
    db: services.db,
    auth: services.auth,
    previews: services.previews,
    clientAddress,
    publicUrl: services.env.publicUrl,
    previewDomain: services.env.BOXYARD_PREVIEW_DOMAIN,
  });
  const cliDownload = createCliDownloadRoutes({ cliDir: BUILT_CLI_DIR, publicUrl: services.env.publicUrl });
  const httpRoutes: Route<HttpHandler>[] = [
    { path: TRPC_PATH, subtree: true, handle: createTrpcRoute(services, identifyRequest) },
    { path: AUTH_PATH, subtree: true, handle: withBodyLimit(MAX_AUTH_BODY_BYTES, toNodeHandler(services.auth)) },
    { path: CLI_API_PATH, subtree: true, handle: createCliApiRoute({ db: services.db, auth: services.auth, identify: identifyRequest, clientAddress }) },
    { path: METRICS_PATH, handle: createMetricsRoute(services.db, services.prometheus, services.env.BOXYARD_METRICS_TOKEN) },
    { path: HEALTH_PATH, handle: createHealthRoute(services) },
    { path: CLI_FILE_PATH, handle: cliDownload.file },
    { path: CLI_SHA256_PATH, handle: cliDownload.sha256 },
    { path: CLI_INSTALL_PATH, handle: cliDownload.install },
    { path: PREVIEW_OPEN_PATH, handle: previews.open },
  ];
  const upgradeRoutes: Route<UpgradeHandler>[] = [
    { path: TERMINAL_PATH, browserOnly: true, handle: createTerminalRoute({ db: services.db, terminals: services.terminals, directory: services.terminalDirectory, identify: identifyRequest, clientAddress }) },
    ...(services.terminalDirectory
      ? [{ path: INTERNAL_TERMINAL_PATH, handle: createInternalTerminalRoute({ db: services.db, terminals: services.terminals, directory: services.terminalDirectory, identify: identifyRequest, clientAddress }) }]
      : []),
    { path: TUNNEL_PATH, handle: createTunnelRoute({ db: services.db, tunnels: services.tunnels, identify: identifyRequest, clientAddress }) },
  ];

  /** The Origin rule's refusal of this request on `route`, audited with what came from where; null when it may pass. */
  const refusedOrigin = (req: IncomingMessage, route: Route<unknown>, path: string): AppError | null => {
    const refusal = originRefusal(req, dashboardOrigin, { browserOnly: route.browserOnly });
    if (refusal) {
      logger.warn({ method: req.method, path, origin: req.headers.origin ?? null }, 'request refused: foreign origin');
      void recordAudit(services.db, {
        actor: systemActor,
        action: 'http.origin.refused',
        detail: { method: req.method ?? null, path, origin: req.headers.origin ?? null, address: clientAddress(req) },
        result: 'error',
        error: refusal.message,
      });
    }
    return refusal;
  };

  const headerOptions = { publicUrl: services.env.publicUrl, dev: services.env.NODE_ENV === 'development' };

  return {
    routes: { http: httpRoutes.map(routeInfo), upgrade: upgradeRoutes.map(routeInfo) },
    handleRequest(req, res) {
      const url = requestUrl(req);
      // A preview (its own origin, or /preview/...) is the app's, not the dashboard's: none of its routes, pages or headers.
      if (previews.handleRequest(req, res, url)) return true;
      applySecurityHeaders(headerOptions, req, res);
      // Set on every request, ours or Next's, so that no client's value under this name survives.
      req.headers[CLIENT_ADDRESS_HEADER] = clientAddress(req);
      const route = findRoute(httpRoutes, url.pathname);
      if (!route) return false;
      const refusal = isStateChanging(req.method) ? refusedOrigin(req, route, url.pathname) : null;
      Promise.resolve()
        .then(() => {
          if (refusal) throw refusal;
          return route.handle(req, res, url);
        })
        .catch((error: unknown) => answerFailure(res, error, url.pathname));
      return true;
    },
    handleUpgrade(req, socket, head) {
      const url = requestUrl(req);
      if (previews.handleUpgrade(req, socket, head, url)) return true;
      const route = findRoute(upgradeRoutes, url.pathname);
      if (!route) return false;
      const refusal = refusedOrigin(req, route, url.pathname);
      if (refusal) refuseUpgrade(socket, appErrorStatus[refusal.code].http, 'Forbidden', refusal.message);
      else route.handle(req, socket, head, url);
      return true;
    },
  };
}

function routeInfo({ path, subtree, browserOnly }: Route<unknown>): RouteInfo {
  return { path, subtree: subtree ?? false, browserOnly: browserOnly ?? false };
}

/** The request's URL on the dashboard; a path such as `//host/x` stays a path, never becomes a host. */
function requestUrl(req: IncomingMessage): URL {
  return new URL(`http://dashboard.invalid${req.url?.startsWith('/') ? req.url : '/'}`);
}

function findRoute<Handler>(routes: Route<Handler>[], pathname: string): Route<Handler> | undefined {
  return routes.find((route) => pathname === route.path || (route.subtree && pathname.startsWith(`${route.path}/`)));
}

/**
 * A route that threw: an AppError keeps its status and message, as does the database not answering (503, not this
 * request's fault); anything else is logged and stays on the server.
 */
function answerFailure(res: ServerResponse, thrown: unknown, path: string): void {
  const error = databaseUnavailable(thrown) ?? thrown;
  if (!isAppError(error) || error.code === 'INTERNAL') logger.error({ err: error, path }, 'HTTP route failed');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (isAppError(error)) sendJson(res, appErrorStatus[error.code].http, { error: error.message });
  else sendJson(res, 500, { error: INTERNAL_FAILURE_MESSAGE });
}

import type { IncomingMessage } from 'node:http';
import { AppError } from '../errors';
import { bearerToken } from './identity';

/**
 * The Origin rule of every state-changing request on every edge, against cross-site request forgery with the session
 * cookie. The edge applies it to every HTTP route for every method but GET, HEAD and OPTIONS, and to every WebSocket
 * upgrade, before a route sees the request (server/http/edge.ts):
 *
 * - a request from a web page of another origin is refused, whatever it carries: no other site's page is a client of
 *   this dashboard;
 * - a request that relies on cookies (it sends a Cookie and no `Authorization: Bearer` token) must name the
 *   dashboard's own origin: a browser always sends Origin on such a request, so one without it is no dashboard page;
 * - a request with a Bearer API token needs no Origin: identify() judges it by the token alone, never by a cookie, and
 *   a page of another site cannot make a browser add that header (the CLI, scripts and curl send none);
 * - a request with neither (the CLI's login poll, an anonymous call that is refused as such) needs none either;
 * - a browser-only route (the terminal) takes nothing but the dashboard's own Origin.
 *
 * better-auth applies the cookie rule to its own routes as well (`trustedOrigins`, server/auth/auth.ts).
 */
export function originRefusal(req: IncomingMessage, dashboardOrigin: string, options: { browserOnly?: boolean } = {}): AppError | null {
  const origin = req.headers.origin;
  if (origin === dashboardOrigin) return null;
  if (options.browserOnly) return new AppError('FORBIDDEN', `Only the dashboard's own pages (${dashboardOrigin}) may open this.`);
  if (origin !== undefined) return new AppError('FORBIDDEN', `Requests from ${origin} are refused: only the dashboard's own pages (${dashboardOrigin}) may change anything here.`);
  if (req.headers.cookie !== undefined && !bearerToken(req.headers)) {
    return new AppError('FORBIDDEN', `A request signed in by cookie must come from the dashboard's own pages (Origin ${dashboardOrigin}); scripts send an API token as "Authorization: Bearer byd_..." instead.`);
  }
  return null;
}

/** Methods that only read: every other one changes state and passes the Origin rule. */
export function isStateChanging(method: string | undefined): boolean {
  return method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
}

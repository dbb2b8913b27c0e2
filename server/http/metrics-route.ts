import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Db } from '../db/client';
import { checkPrometheusToken } from '../metrics/settings';
import { bearerToken } from './identity';
import { sendText } from './responses';

export const METRICS_PATH = '/metrics';

/**
 * GET /metrics with `Authorization: Bearer <token>`: the token from BOXYARD_METRICS_TOKEN or the one an admin
 * rotated in the settings. Without a configured token the endpoint refuses everything (403), never serves openly.
 * The scrape token is not a user's API token: it reads gauges and nothing else. `registry` is the services' one
 * (server/metrics/prometheus.ts): this process, its boxes and the dashboard's own state.
 */
export function createMetricsRoute(db: Db, registry: Registry, envToken: string | undefined) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n', { allow: 'GET' });
    const token = bearerToken(req.headers);
    if (!token) return sendText(res, 401, 'a bearer token is required\n', { 'www-authenticate': 'Bearer realm="boxyard metrics"' });
    if (!(await checkPrometheusToken(db, envToken, token))) {
      return sendText(res, 403, 'wrong token (or none configured: set BOXYARD_METRICS_TOKEN or rotate one in the settings)\n');
    }
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
  };
}

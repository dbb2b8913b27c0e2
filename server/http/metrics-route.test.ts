// GET /metrics: refused without a token, with a wrong one, or when none is configured; served with the env token or
// the admin-rotated one (and the rotated-out one stops working). Real HTTP to the handler the edge routes at
// /metrics, on the real services (database, metrics service).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBox } from '../boxes/boxes';
import { rotatePrometheusToken } from '../metrics/settings';
import { startMetricsBackend, type MetricsBackend } from '../../testing/helpers/metrics';
import { createMetricsRoute } from './metrics-route';

const ENV_TOKEN = 'env-token-0123456789abcdef';

describe('/metrics', () => {
  let backend: MetricsBackend;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    backend = await startMetricsBackend({ BOXYARD_METRICS_TOKEN: ENV_TOKEN });
    const { services, admin } = backend;
    await createBox(services.db, services.secrets, admin, { name: 'scraped "box"', host: '127.0.0.1', port: 1, sshUser: 'dev', tags: [], notes: '', ownerId: admin.id, memberIds: [], auth: { method: 'dashboard-key' } });
    const handler = createMetricsRoute(services.db, services.prometheus, services.env.BOXYARD_METRICS_TOKEN);
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await backend?.stop();
  });

  const scrape = (token?: string) => fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('refuses without a token (401) and with a wrong one (403)', async () => {
    const none = await scrape();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await scrape('not-the-token')).status).toBe(403);
    const basic = await fetch(`${base}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`x:${ENV_TOKEN}`).toString('base64')}` } });
    expect(basic.status).toBe(401);
  });

  it('serves per-box gauges in the Prometheus text format with the env token', async () => {
    const response = await scrape(ENV_TOKEN);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await response.text();
    for (const name of ['boxyard_box_up', 'boxyard_box_cpu_percent', 'boxyard_box_memory_used_bytes', 'boxyard_box_load1', 'boxyard_box_idle_seconds', 'boxyard_box_host_cpu_percent']) {
      expect(body).toContain(`# TYPE ${name} gauge`);
    }
    // Not sampled (the port is closed): up 0, and no invented CPU figure. Label values are escaped.
    expect(body).toMatch(/boxyard_box_up\{box="scraped \\"box\\"",box_id="[^"]+"\} 0/);
    expect(body).not.toMatch(/boxyard_box_cpu_percent\{/);
  });

  it('accepts an admin-rotated token, and the rotated-out one stops working', async () => {
    const first = await rotatePrometheusToken(backend.services.db);
    expect((await scrape(first)).status).toBe(200);
    const second = await rotatePrometheusToken(backend.services.db);
    expect((await scrape(first)).status).toBe(403);
    expect((await scrape(second)).status).toBe(200);
    expect((await scrape(ENV_TOKEN)).status).toBe(200);
  });
});

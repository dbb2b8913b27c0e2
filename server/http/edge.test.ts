// The edge's route tables and its one identity function, over real HTTP on the real services: paths match exactly,
// and tRPC takes a browser session or an API token alike (a revoked token is refused, never read as a session).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, revokeApiToken } from '../access-keys/api-tokens';
import { startBackend, type Backend } from '../../testing/helpers/terminals';

describe('the edge', () => {
  let backend: Backend;
  let url: string;

  beforeAll(async () => {
    backend = await startBackend();
    url = (await backend.listen()).replace(/^ws:/, 'http:');
  });
  afterAll(() => backend?.stop());

  it('serves its routes on their exact paths and leaves look-alikes to the pages (404 here)', async () => {
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    for (const lookalike of ['/metricsx', '/metrics/x', '/api/healthz', '/api/trpcx/boxes.list', '/api/clix/boxes', '//evil.example/metrics']) {
      const response = await fetch(`${url}${lookalike}`);
      expect({ lookalike, status: response.status, body: await response.text() }).toEqual({ lookalike, status: 404, body: '' });
    }
  });

  it('lets tRPC identify a caller by session cookie or by API token, and refuses a revoked token', async () => {
    const profileTokens = (headers: Record<string, string>) => fetch(`${url}/api/trpc/profile.tokens.list`, { headers });
    expect((await profileTokens({})).status).toBe(401);
    expect((await profileTokens({ cookie: backend.admin.cookie })).status).toBe(200);

    const { token, apiToken } = await createApiToken(backend.services.db, backend.admin.user, 'edge test');
    const byToken = await profileTokens({ authorization: `Bearer ${token}` });
    expect(byToken.status).toBe(200);
    expect(JSON.stringify(await byToken.json())).toContain(apiToken.id);

    await revokeApiToken(backend.services.db, backend.admin.user, apiToken.id);
    // A revoked token with a valid cookie beside it: the token decides.
    const revoked = await profileTokens({ authorization: `Bearer ${token}`, cookie: backend.admin.cookie });
    expect(revoked.status).toBe(401);
  });
});

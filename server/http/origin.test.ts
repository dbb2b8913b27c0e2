// The Origin rule on every route of the edge, generated from its route tables (a route added later is covered without
// editing this test), over real HTTP and WebSocket upgrades: a cookie-bound state change from a foreign Origin or none
// is refused with 403 and audited, a Bearer token needs no Origin, reads pass, and a refused tRPC mutation changed nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../access-keys/api-tokens';
import { httpRequest, upgradeStatus, type Answer } from '../../testing/helpers/http';
import { startBackend, type Backend } from '../../testing/helpers/terminals';
import { createEdge, type EdgeRoutes } from './edge';

const EVIL = 'http://evil.example';
const STATE_CHANGING = ['POST', 'PUT', 'PATCH', 'DELETE'];

/** A path the route serves: itself, or for a subtree one a path below it. */
const probePath = (route: EdgeRoutes['http'][number]) => (route.subtree ? `${route.path}/origin-probe` : route.path);

const isOriginRefusal = (answer: { status: number; body: string }) => answer.status === 403 && answer.body.includes("the dashboard's own pages");

describe('the Origin rule on every edge route', () => {
  let backend: Backend;
  let base: string;
  let routes: EdgeRoutes;
  let token: string;

  beforeAll(async () => {
    backend = await startBackend();
    base = (await backend.listen()).replace(/^ws:/, 'http:');
    routes = createEdge(backend.services).routes;
    token = (await createApiToken(backend.services.db, backend.admin.user, 'origin test')).token;
  });
  afterAll(() => backend?.stop());

  it('has routes to check, the API, better-auth and the CLI API among them', () => {
    expect(routes.http.map((route) => route.path)).toEqual(expect.arrayContaining(['/api/trpc', '/api/auth', '/api/cli']));
    expect(routes.upgrade.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a cookie-bound state change from a foreign Origin or none on every HTTP route, and audits it', async () => {
    for (const route of routes.http) {
      for (const method of STATE_CHANGING) {
        const path = probePath(route);
        const send = (headers: Record<string, string>) => httpRequest(`${base}${path}`, { method, headers, body: {} });
        const foreign = await send({ cookie: backend.admin.cookie, origin: EVIL });
        expect({ path, method, ...pick(foreign) }).toEqual({
          path,
          method,
          status: 403,
          error: `Requests from ${EVIL} are refused: only the dashboard's own pages (${backend.origin}) may change anything here.`,
        });
        const none = await send({ cookie: backend.admin.cookie });
        expect({ path, method, ...pick(none) }).toEqual({
          path,
          method,
          status: 403,
          error: `A request signed in by cookie must come from the dashboard's own pages (Origin ${backend.origin}); scripts send an API token as "Authorization: Bearer byd_..." instead.`,
        });
        // A token does not make a foreign page's request acceptable.
        expect({ path, method, refused: isOriginRefusal(await send({ authorization: `Bearer ${token}`, origin: EVIL })) }).toEqual({ path, method, refused: true });
        // What passes: the dashboard's own page, and a script with a token and no Origin.
        const passing: Record<string, string>[] = [{ cookie: backend.admin.cookie, origin: backend.origin }, { authorization: `Bearer ${token}` }, {}];
        for (const headers of passing) {
          expect({ path, method, headers, refused: isOriginRefusal(await send(headers)) }).toEqual({ path, method, headers, refused: false });
        }
      }
      // Reads are not state changes.
      const read = await httpRequest(`${base}${probePath(route)}`, { headers: { cookie: backend.admin.cookie, origin: EVIL } });
      expect({ path: route.path, refused: isOriginRefusal(read) }).toEqual({ path: route.path, refused: false });
    }
    const audited = await backend.services.db.auditEvent.findMany({ where: { action: 'http.origin.refused' } });
    expect(audited).toHaveLength(routes.http.length * STATE_CHANGING.length * 3);
    expect(JSON.parse(audited[0]!.detail)).toEqual({ method: 'POST', path: probePath(routes.http[0]!), origin: EVIL, address: '127.0.0.1' });
  });

  it('refuses a cookie-bound upgrade from a foreign Origin or none on every WebSocket route; a browser-only one takes only the dashboard\'s', async () => {
    const ws = base.replace(/^http:/, 'ws:');
    for (const route of routes.upgrade) {
      const url = `${ws}${route.subtree ? `${route.path}/origin-probe` : route.path}`;
      const cookie = { cookie: backend.admin.cookie };
      const statuses = {
        path: route.path,
        foreign: (await upgradeStatus(url, { origin: EVIL, headers: cookie })).status,
        none: (await upgradeStatus(url, { headers: cookie })).status,
        tokenForeign: (await upgradeStatus(url, { origin: EVIL, headers: { authorization: `Bearer ${token}` } })).status,
        token: (await upgradeStatus(url, { headers: { authorization: `Bearer ${token}` } })).status,
        own: (await upgradeStatus(url, { origin: backend.origin, headers: cookie })).status,
      };
      expect(statuses).toEqual({ path: route.path, foreign: 403, none: 403, tokenForeign: 403, token: route.browserOnly ? 403 : 101, own: 101 });
    }
  });

  it('does not apply a tRPC mutation a foreign page sent with the session cookie', async () => {
    const create = (headers: Record<string, string>, name: string) =>
      httpRequest(`${base}/api/trpc/profile.tokens.create`, { method: 'POST', headers, body: { json: { name } } });
    expect((await create({ cookie: backend.admin.cookie, origin: EVIL }, 'forged')).status).toBe(403);
    expect((await create({ cookie: backend.admin.cookie }, 'forged without origin')).status).toBe(403);
    expect((await create({ cookie: backend.admin.cookie, origin: backend.origin }, 'from the page')).status).toBe(200);
    expect((await create({ authorization: `Bearer ${token}` }, 'from a script')).status).toBe(200);
    const names = (await backend.services.db.apiToken.findMany({ select: { name: true } })).map((row) => row.name);
    expect(names.sort()).toEqual(['from a script', 'from the page', 'origin test']);
  });

  it('keeps better-auth on the same origin: its own routes work from the dashboard\'s pages', async () => {
    const signOut = await httpRequest(`${base}/api/auth/sign-out`, { method: 'POST', headers: { cookie: (await backend.addUser('leaving@example.com')).cookie, origin: backend.origin }, body: {} });
    expect(signOut.status).toBe(200);
  });
});

function pick(answer: Answer): { status: number; error: unknown } {
  return { status: answer.status, error: (JSON.parse(answer.body) as { error?: unknown }).error };
}

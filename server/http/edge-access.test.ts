// Who may use each route of the edge, generated from its route tables (a route added later fails here until it is
// listed): every route is either public, with the reason, or refuses a request without credentials; the WebSocket
// routes also refuse a developer on another developer's box with the very answer an unknown box gets. The tRPC
// procedures have their own matrix (server/trpc/authorization.test.ts); this one is the edges around them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createApiToken } from '../access-keys/api-tokens';
import { httpRequest } from '../../testing/helpers/http';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { createEdge, type EdgeRoutes } from './edge';

/** Routes anyone may call, and why. */
const PUBLIC_HTTP: Record<string, string> = {
  '/api/auth': 'sign-in itself; better-auth checks the session on its own routes that need one',
  '/api/health': 'the load balancer asks it; it says only that the process serves',
  '/cli/boxyard.mjs': 'the CLI is public code with no secret in it; the install line downloads it',
  '/cli/boxyard.mjs.sha256': 'its hash, which install.sh checks',
  '/cli/install.sh': 'the install script of the line on the profile page',
  '/api/preview/open': "starts a preview's code exchange: without a session it redirects to sign-in; only a public share's signed link issues a code without one (server/previews/preview.test.ts)",
};

/** For each route that needs a caller: requests that must be refused without credentials. */
const PROTECTED_HTTP: Record<string, { method: string; path: string }[]> = {
  '/api/trpc': [{ method: 'GET', path: '/api/trpc/boxes.list' }],
  '/api/cli': [
    { method: 'GET', path: '/api/cli/boxes' },
    { method: 'GET', path: '/api/cli/me' },
    { method: 'POST', path: '/api/cli/logout' },
  ],
  '/metrics': [{ method: 'GET', path: '/metrics' }],
};

/** How each WebSocket route names the box it is asked for. */
const UPGRADE_QUERIES: Record<string, (boxId: string) => Record<string, string>> = {
  '/api/terminal': (box) => ({ session: crypto.randomUUID(), box, cols: '80', rows: '24', mode: 'new' }),
  '/api/tunnel': (box) => ({ box, port: '22' }),
};

/** The upgrade's answer: the HTTP status of a refused upgrade, or the close code and reason of an accepted one. */
function upgradeAnswer(url: string, headers: Record<string, string>): Promise<{ status?: number; code?: number; reason?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode });
      response.resume();
    });
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.once('error', (error) => (error.message.startsWith('Unexpected server response') ? undefined : reject(error)));
  });
}

describe('access on every edge route', () => {
  let backend: Backend;
  let base: string;
  let routes: EdgeRoutes;
  let ana: TestUser;
  let anasBoxId: string;
  let bobToken: string;
  let bob: TestUser;

  beforeAll(async () => {
    backend = await startBackend();
    base = (await backend.listen()).replace(/^ws:/, 'http:');
    routes = createEdge(backend.services).routes;
    ana = await backend.addUser('ana@example.com');
    bob = await backend.addUser('bob@example.com');
    // No SSH is needed: every request here is refused before the box would be reached.
    anasBoxId = (await backend.addBox('anas-box', { host: '127.0.0.1', port: 1 }, ana)).id;
    bobToken = (await createApiToken(backend.services.db, bob.user, 'edge access test')).token;
  });
  afterAll(() => backend?.stop());

  it('lists every HTTP route as public (with why) or protected (with requests to try)', () => {
    for (const { path } of routes.http) {
      expect({ path, listed: path in PUBLIC_HTTP !== path in PROTECTED_HTTP }, `add ${path} to PUBLIC_HTTP or PROTECTED_HTTP`).toEqual({ path, listed: true });
    }
    for (const { path } of routes.upgrade) expect({ path, listed: path in UPGRADE_QUERIES }, `add ${path} to UPGRADE_QUERIES`).toEqual({ path, listed: true });
  });

  it('refuses a protected HTTP route without credentials, and with a token that does not exist', async () => {
    for (const requests of Object.values(PROTECTED_HTTP)) {
      for (const { method, path } of requests) {
        const anonymous = await httpRequest(`${base}${path}`, { method, body: method === 'GET' ? undefined : {} });
        expect({ method, path, status: anonymous.status }).toEqual({ method, path, status: 401 });
        const forged = await httpRequest(`${base}${path}`, { method, headers: { authorization: 'Bearer byd_not-a-token' }, body: method === 'GET' ? undefined : {} });
        // 401 (unknown token) or 403 (/metrics: a token, but not its own).
        expect({ method, path, refused: [401, 403].includes(forged.status) }).toEqual({ method, path, refused: true });
      }
    }
  });

  it('refuses every WebSocket route without credentials, and a developer on another developer\'s box as if it did not exist', async () => {
    const ws = base.replace(/^http:/, 'ws:');
    for (const { path } of routes.upgrade) {
      const url = (boxId: string) => `${ws}${path}?${new URLSearchParams(UPGRADE_QUERIES[path]!(boxId))}`;
      const own = { origin: backend.origin };
      const anonymous = await upgradeAnswer(url(anasBoxId), own);
      expect({ path, refused: anonymous.status === 401 || anonymous.code === 4401 }).toEqual({ path, refused: true });

      // Bob, signed in (the terminal takes the session cookie only; the tunnel a token as well), on Ana's box and on none.
      const bobs: Record<string, string>[] = [{ cookie: bob.cookie, ...own }, ...(path === '/api/terminal' ? [] : [{ authorization: `Bearer ${bobToken}` }])];
      for (const headers of bobs) {
        const foreign = await upgradeAnswer(url(anasBoxId), headers);
        const unknown = await upgradeAnswer(url('no-such-box-0000'), headers);
        expect({ path, foreign }).toEqual({ path, foreign: unknown });
        expect({ path, code: foreign.code ?? foreign.status }).toEqual({ path, code: 4404 });
      }
    }
  });
});

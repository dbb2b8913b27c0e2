// The security headers on every route of the edge's two tables (listed from the edge itself, so a route added later
// is covered), whatever the route answers, over real HTTP; HSTS only when the dashboard is served over TLS. Pages
// are covered in the browser (e2e/security-headers.spec.ts), from app/ on disk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdge } from './edge';
import { contentSecurityPolicy } from './security-headers';
import { startBackend, type Backend } from '../../testing/helpers/terminals';

const expectedHeaders = {
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'strict-origin-when-cross-origin',
};

/** The security headers of one response, HSTS included (undefined when absent). */
function securityHeadersOf(response: Response) {
  return {
    'x-frame-options': response.headers.get('x-frame-options'),
    'x-content-type-options': response.headers.get('x-content-type-options'),
    'referrer-policy': response.headers.get('referrer-policy'),
    csp: response.headers.get('content-security-policy') ?? '',
    hsts: response.headers.get('strict-transport-security') ?? undefined,
  };
}

describe('security headers on every edge route', () => {
  let backend: Backend;
  let url: string;

  beforeAll(async () => {
    backend = await startBackend();
    url = (await backend.listen()).replace(/^ws:/, 'http:');
  });
  afterAll(() => backend?.stop());

  it('every HTTP and upgrade path, and what lies beside them, answers with the headers, whatever its status', async () => {
    const { routes } = createEdge(backend.services);
    expect(routes.http.length).toBeGreaterThan(5);
    const requests = [
      ...[...routes.http, ...routes.upgrade].flatMap(({ path }) => [
        { path, method: 'GET' },
        { path, method: 'POST' },
        { path: `${path}/below`, method: 'GET' },
      ]),
      { path: '/not-ours', method: 'GET' },
    ];
    for (const { path, method } of requests) {
      const response = await fetch(`${url}${path}`, { method, headers: { cookie: backend.admin.cookie }, redirect: 'manual' });
      await response.arrayBuffer();
      const headers = securityHeadersOf(response);
      expect({ path, method, ...headers, csp: undefined }).toEqual({ path, method, ...expectedHeaders, csp: undefined, hsts: undefined });
      expect(headers.csp, `${method} ${path}`).toContain("frame-ancestors 'none'");
      // The test backend runs as NODE_ENV=development, where React needs eval (the policy test covers production).
      expect(headers.csp, `${method} ${path}`).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/]+={0,2}' 'strict-dynamic' 'unsafe-eval';/);
    }
  });

  it('the policy: nonce scripts only, no eval outside development, WebSockets to the dashboard origin only, HSTS and upgrades over TLS', () => {
    const plain = contentSecurityPolicy({ publicUrl: 'http://127.0.0.1:3000', dev: false }, 'abc=');
    expect(plain.split('; ')).toEqual([
      "default-src 'self'",
      "script-src 'self' 'nonce-abc=' 'strict-dynamic'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' blob: data:",
      "font-src 'self'",
      "connect-src 'self' ws://127.0.0.1:3000",
      "object-src 'none'",
      "base-uri 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ]);
    const tls = contentSecurityPolicy({ publicUrl: 'https://boxyard.example.com/', dev: false }, 'abc=');
    expect(tls).toContain("connect-src 'self' wss://boxyard.example.com;");
    expect(tls.endsWith('; upgrade-insecure-requests')).toBe(true);
    expect(contentSecurityPolicy({ publicUrl: 'http://127.0.0.1:3000', dev: true }, 'abc=')).toContain("'strict-dynamic' 'unsafe-eval';");
  });

  it('sends HSTS when the dashboard is reached over TLS (BOXYARD_URL https), on pages and routes alike', async () => {
    const tls = await startBackend({ BOXYARD_URL: 'https://boxyard.example.com' });
    try {
      const tlsUrl = (await tls.listen()).replace(/^ws:/, 'http:');
      for (const path of ['/api/health', '/api/trpc/users.me', '/not-ours']) {
        const response = await fetch(`${tlsUrl}${path}`);
        await response.arrayBuffer();
        expect({ path, ...securityHeadersOf(response), csp: undefined }).toEqual({ path, ...expectedHeaders, csp: undefined, hsts: 'max-age=31536000; includeSubDomains' });
      }
    } finally {
      await tls.stop();
    }
  });
});

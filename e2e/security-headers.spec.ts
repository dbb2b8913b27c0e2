// Security headers on every page (listed from app/ on disk, so a new page is covered without editing this file), and
// the pages and the terminal (DOM and WebGL renderers) working under the CSP with no violation reported. The edge's
// own routes are covered from its route tables in server/http/security-headers.test.ts.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { e2eAdmin } from '../testing/helpers/e2e/admin';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';
import { expectOutput, expectTerminalState, run, sessionIdOf, terminalLocator } from '../testing/helpers/e2e/terminal';

/** Every page route of the App Router: `app/(group)/boxes/[id]/page.tsx` -> `/boxes/headers-test`. */
function pageRoutes(dir = 'app', route = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.isFile()) return /^page\.(tsx|ts|jsx|js)$/.test(entry.name) ? [route || '/'] : [];
    if (!entry.isDirectory()) return [];
    const segment = /^\(.*\)$/.test(entry.name) ? '' : `/${entry.name.replace(/^\[.*\]$/, 'headers-test')}`;
    return pageRoutes(path.join(dir, entry.name), route + segment);
  });
}

/** Records CSP violations from the first script on, and console errors that name the policy. */
async function watchViolations(page: Page): Promise<() => Promise<string[]>> {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`));
  });
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && /content security policy/i.test(message.text())) consoleErrors.push(message.text());
  });
  return async () => [...consoleErrors, ...(await page.evaluate(() => (window as unknown as { __cspViolations?: string[] }).__cspViolations ?? []))];
}

test('every page carries the security headers, and Next nonces each of its scripts', async ({ adminPage: page }) => {
  const routes = pageRoutes();
  expect(routes).toEqual(expect.arrayContaining(['/', '/login', '/boxes/headers-test/terminal']));
  for (const route of routes) {
    const response = await page.request.get(route, { maxRedirects: 0 });
    const headers = response.headers();
    const csp = headers['content-security-policy'] ?? '';
    expect({ route, status: response.status() < 500, xfo: headers['x-frame-options'], nosniff: headers['x-content-type-options'], referrer: headers['referrer-policy'] }).toEqual({
      route,
      status: true,
      xfo: 'DENY',
      nosniff: 'nosniff',
      referrer: 'strict-origin-when-cross-origin',
    });
    expect(csp, route).toContain("frame-ancestors 'none'");
    expect(csp, route).toContain("object-src 'none'");
    expect(csp, route).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'(;|$)/);
    // Plain http here: no HSTS (server/http/security-headers.test.ts covers https).
    expect(headers['strict-transport-security'], route).toBeUndefined();
    const nonce = /'nonce-([^']+)'/.exec(csp)![1];
    const html = await response.text();
    const scripts = html.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length, route).toBeGreaterThan(0);
    for (const script of scripts) expect(script, route).toContain(`nonce="${nonce}"`);
  }
  // A fresh nonce per response.
  const [first, second] = await Promise.all([page.request.get('/login'), page.request.get('/login')]);
  expect(first.headers()['content-security-policy']).not.toBe(second.headers()['content-security-policy']);
});

test('sign-in, pages and a terminal work under the CSP with no violation', async ({ browser, adminApi, labBox, makeDeveloper }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const violations = await watchViolations(page);
  const developer = await makeDeveloper('csp');
  await signIn(page, developer);
  const box = await adminApi.boxes.create.mutate({
    name: uniqueName('csp'),
    host: labBox.host,
    port: labBox.port,
    sshUser: 'dev',
    auth: { method: 'dashboard-key' },
    ownerId: (await adminApi.users.me.query()).id,
    memberIds: [developer.id],
  });
  for (const route of ['/', `/boxes/${box.id}`, '/profile', '/sessions']) {
    await page.goto(route);
    await expect(page.getByTestId('signed-in-as')).toContainText(developer.email);
  }
  await page.goto(`/boxes/${box.id}/terminal`);
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');
  await run(page, session, 'echo csp-$((6*7))');
  await expectOutput(page, session, /csp-42/);
  expect(await violations()).toEqual([]);

  // Access removed while the terminal is open (the developer's account): the browser says why within seconds.
  // (An edit of the box itself drops its pooled SSH connection first; server/http/access-removed.test.ts covers the
  // other kinds of change through the domain functions.)
  await adminApi.users.delete.mutate({ id: developer.id });
  await expectTerminalState(page, session, 'ended', 5_000);
  await expect(page.getByText('Session ended: Your account was removed from this dashboard.')).toBeVisible();
  expect(await violations()).toEqual([]);
  await context.close();
});

test('the WebGL renderer works under the CSP', async ({ browser, adminApi, labBox }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Headless Chromium renders WebGL in software, which the terminal skips for the DOM renderer (terminal-view.tsx);
  // this page is told it has a GPU so that xterm's WebGL addon loads and draws.
  await page.addInitScript(() => {
    const getContext = HTMLCanvasElement.prototype.getContext;
    HTMLCanvasElement.prototype.getContext = function (this: HTMLCanvasElement, kind: string, options?: unknown) {
      const settings = kind === 'webgl2' && options && typeof options === 'object' ? { ...options, failIfMajorPerformanceCaveat: false } : options;
      return getContext.call(this, kind, settings);
    } as typeof getContext;
    const getParameter = WebGL2RenderingContext.prototype.getParameter;
    WebGL2RenderingContext.prototype.getParameter = function (this: WebGL2RenderingContext, name: number) {
      const value: unknown = getParameter.call(this, name);
      return typeof value === 'string' ? value.replace(/swiftshader|llvmpipe|softpipe|software/gi, 'gpu') : value;
    };
  });
  const violations = await watchViolations(page);
  await signIn(page, e2eAdmin);
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('webgl'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}/terminal`);
  const session = await sessionIdOf(page);
  await expectTerminalState(page, session, 'open');
  // xterm's WebGL renderer draws into canvases of its own; the DOM renderer has none.
  await expect(terminalLocator(page, session).locator('canvas').first()).toBeAttached();
  await run(page, session, 'echo webgl-$((6*7))');
  await expectOutput(page, session, /webgl-42/);
  expect(await violations()).toEqual([]);
  await context.close();
});

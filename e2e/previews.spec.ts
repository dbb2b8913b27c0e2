import type { BrowserContext, Page } from '@playwright/test';
import { startPreviewApp } from '../testing/helpers/previews';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

/**
 * A box's port opened in Chromium through the dashboard, both forms, against a real app on a lab box (perl: it
 * answers every request with the request head it was sent, sets `app=1; Domain=preview.localhost`, and echoes
 * WebSocket frames): the page loads, a WebSocket echoes, the app's cookie stays on its preview, and the app never
 * sees a dashboard cookie. Then who may open it: not a developer without access, until the owner shares the port;
 * revoking closes what that developer had open.
 */
const APP_PORT = 8123;
const DOMAIN = 'preview.localhost';

/** An echo over a WebSocket opened by the page itself, to a URL relative to the page (hot reload's way). */
const echoFromPage = (page: Page, text: string) =>
  page.evaluate(
    (message) =>
      new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(new URL('ws', location.href).href.replace(/^http/, 'ws'));
        ws.onopen = () => ws.send(message);
        ws.onmessage = (event) => {
          resolve(String(event.data));
          ws.close();
        };
        ws.onerror = () => reject(new Error('the WebSocket failed'));
      }),
    text,
  );

const cookieNames = async (context: BrowserContext, url: string) => (await context.cookies(url)).map((cookie) => cookie.name);

test('a port opened in Chromium on its own origin and under /preview/, and shared with another developer', async ({ page, browser, adminApi, labBox, makeDeveloper, baseURL }) => {
  test.setTimeout(180_000);
  const alice = await makeDeveloper('alice');
  const bob = await makeDeveloper('bob');
  const name = uniqueName('web');
  const box = await adminApi.boxes.create.mutate({ name, host: labBox.host, port: labBox.port, sshUser: 'dev', ownerId: alice.id, auth: { method: 'dashboard-key' } });
  await startPreviewApp(labBox, APP_PORT);
  const dashboardPort = new URL(baseURL!).port;
  const previewOrigin = `http://${APP_PORT}--${name}.${DOMAIN}:${dashboardPort}`;

  await signIn(page, alice);
  await page.goto(`/boxes/${box.id}`);
  const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Previews', exact: true }) });

  await test.step('own origin: Open in the Previews card, the page, a WebSocket echo, the cookies', async () => {
    await card.getByLabel('Port', { exact: true }).fill(String(APP_PORT));
    const opened = page.context().waitForEvent('page');
    await card.getByRole('button', { name: 'Open', exact: true }).click();
    const preview = await opened;
    await preview.waitForURL(`${previewOrigin}/`);
    const head = await preview.locator('body').innerText();
    expect(head).toMatch(/^GET \/ HTTP\/1.1/);
    expect(head).toContain(`x-forwarded-host: ${APP_PORT}--${name}.${DOMAIN}:${dashboardPort}`);
    expect(head).not.toContain('boxyard.');
    expect(await echoFromPage(preview, 'hot reload')).toBe('hot reload');
    // The app's own view of a later request: its cookie came back, the preview's own cookie did not reach it.
    const later = await preview.evaluate(async () => (await fetch('/again', { credentials: 'include' })).text());
    expect(later).toMatch(/^cookie: app=1\r?$/m);
    expect(later).not.toContain('boxyard.');
    // `app=1; Domain=preview.localhost` was kept host-only: not for the dashboard, not for another box's port.
    const appCookie = (await page.context().cookies(previewOrigin)).find((cookie) => cookie.name === 'app');
    expect(appCookie?.domain).toBe(`${APP_PORT}--${name}.${DOMAIN}`);
    expect(await cookieNames(page.context(), baseURL!)).not.toContain('app');
    expect(await cookieNames(page.context(), `http://8124--${name}.${DOMAIN}:${dashboardPort}/`)).not.toContain('app');
    await preview.close();
  });

  await test.step('the path form on the dashboard origin: sandboxed, the page, a WebSocket echo, the cookies', async () => {
    const preview = await page.context().newPage();
    await preview.goto(`/preview/${name}/${APP_PORT}/x`);
    await expect(preview).toHaveURL(new RegExp(`/preview/${name}/${APP_PORT}/~[A-Za-z0-9_.-]+/x$`));
    const head = await preview.locator('body').innerText();
    expect(head).toMatch(/^GET \/x HTTP\/1.1/);
    // The browser sent the dashboard's session cookie with this request (same origin); the app did not get it.
    expect(head).not.toContain('boxyard.');
    expect(await preview.evaluate(() => origin)).toBe('null');
    expect(await echoFromPage(preview, 'path form')).toBe('path form');
    expect(await cookieNames(page.context(), `${baseURL}/preview/${name}/${APP_PORT}/`)).toContain('app');
    expect(await cookieNames(page.context(), `${baseURL}/`)).not.toContain('app');
    await preview.close();
  });

  await test.step('a developer without access gets "not found"; a port shared with every signed-in user opens for them; revoking closes it', async () => {
    const bobs = await browser.newContext({ baseURL });
    try {
      const bobPage = await bobs.newPage();
      await signIn(bobPage, bob);
      await bobPage.goto(`${previewOrigin}/`);
      await expect(bobPage.getByRole('heading', { name: 'Preview not found' })).toBeVisible();

      await card.getByLabel('Port', { exact: true }).fill(String(APP_PORT));
      await card.getByLabel('Share with').selectOption('authenticated');
      await card.getByRole('button', { name: 'Share port' }).click();
      await expect(card.getByTestId(`share-${APP_PORT}`)).toContainText('every signed-in user');

      await bobPage.goto(`${previewOrigin}/`);
      await expect(bobPage.locator('body')).toContainText('GET / HTTP/1.1');
      // Bob keeps a WebSocket open; revoking the share closes it.
      await bobPage.evaluate(() => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        (window as unknown as { closed: Promise<void> }).closed = new Promise((resolve) => ws.addEventListener('close', () => resolve()));
        return new Promise((resolve) => ws.addEventListener('open', resolve));
      });
      await card.getByRole('button', { name: `Stop sharing port ${APP_PORT}` }).click();
      await expect(card.getByTestId(`share-${APP_PORT}`)).toHaveCount(0);
      await bobPage.evaluate(() => (window as unknown as { closed: Promise<void> }).closed);
      await bobPage.reload();
      await expect(bobPage.getByRole('heading', { name: 'Preview not found' })).toBeVisible();
    } finally {
      await bobs.close();
    }
  });
});

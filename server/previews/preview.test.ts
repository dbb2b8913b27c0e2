// Previews against a real lab box and a real app on it (perl: HTTP echo of the request head, a WebSocket echo):
// the code exchange and the preview cookie, both forms, what the app is sent and what the browser gets back, the
// bad-input pages, sharing with every signed-in user and revoking it (open WebSockets closed at once).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREVIEW_COOKIE, PREVIEW_OPEN_PATH } from '../../lib/preview';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { listenWithPreviewWake, previewSocket, rawRequest, startPreviewApp, stopPreviewApp, type RawResponse } from '../../testing/helpers/previews';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { until } from '../../testing/helpers/wait';
import { startLabBox, type LabBox } from '../../testing/lab/lab';
import { AppError } from '../errors';
import { appRouter } from '../trpc/router';
import { revokeShare, setPublicSharing, shareBoxPort } from './shares';

const DOMAIN = 'preview.localhost';
const APP_PORT = 8123;

describe('previews', () => {
  let backend: Backend;
  let lab: LabBox;
  let ana: TestUser;
  let bob: TestUser;
  let base: string;
  let box: { id: string; name: string };
  const host = (port = APP_PORT) => `${port}--preview-box.${DOMAIN}:${new URL(base).port}`;

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend({ BOXYARD_PREVIEW_DOMAIN: DOMAIN, PREVIEW_TIMEOUT_MS: '1500', PREVIEW_MAX_BODY_BYTES: '65536' }), startLabBox({ namePrefix: 'preview' })]);
    await lab.authorize(backend.services.dashboardPublicKey);
    base = (await backend.listen()).replace('ws://', 'http://');
    ana = await backend.addUser('ana@example.com');
    bob = await backend.addUser('bob@example.com');
    box = await backend.addBox('preview-box', lab, ana);
    await startPreviewApp(lab, APP_PORT);
  }, LAB_START_TIMEOUT_MS);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
  });

  /** The exchange as a browser follows it: the dashboard's open route, then the redeem on the preview; the preview cookie. */
  const exchange = async (user: TestUser, port = APP_PORT, path = '/'): Promise<{ open: RawResponse; redeem?: RawResponse; cookie?: string }> => {
    const open = await rawRequest(base, `${PREVIEW_OPEN_PATH}?${new URLSearchParams({ box: 'preview-box', port: String(port), path })}`, { headers: { cookie: user.cookie } });
    if (open.status !== 302) return { open };
    const location = new URL(open.headers.location!);
    const redeem = await rawRequest(base, location.pathname + location.search, { headers: { host: location.host } });
    const setCookie = (redeem.headers['set-cookie'] ?? []).find((line) => line.startsWith(`${PREVIEW_COOKIE}=`));
    return { open, redeem, cookie: setCookie?.split(';')[0] };
  };

  it('the subdomain form: a one-time code becomes a host-only cookie; the app gets forwarding headers and no dashboard credential', async () => {
    const { open, redeem, cookie } = await exchange(ana, APP_PORT, '/hello?x=1');
    // The redirect names the preview origin under the dashboard's public URL (BOXYARD_URL, port 3000 here).
    expect(new URL(open.headers.location!).host).toBe(`${APP_PORT}--preview-box.${DOMAIN}:${new URL(backend.origin).port}`);
    expect(redeem!.status).toBe(302);
    expect(redeem!.headers.location).toBe('/hello?x=1');
    const setCookie = redeem!.headers['set-cookie']![0]!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toMatch(/Domain=/i);
    // The code is used up: a second redemption is refused.
    const location = new URL(open.headers.location!);
    expect((await rawRequest(base, location.pathname + location.search, { headers: { host: location.host } })).status).toBe(401);

    const answer = await rawRequest(base, '/hello?x=1', { headers: { host: host(), cookie: `${cookie}; ${ana.cookie}; theirs=kept`, authorization: 'Bearer byd_dashboardtoken' } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^GET \/hello\?x=1 HTTP\/1.1/);
    expect(answer.body).toMatch(/^cookie: theirs=kept\r$/m);
    expect(answer.body).not.toMatch(/boxyard\./);
    expect(answer.body).not.toMatch(/authorization/i);
    expect(answer.body).toMatch(/^x-forwarded-for: 127\.0\.0\.1\r$/m);
    expect(answer.body).toMatch(/^x-forwarded-proto: http\r$/m);
    expect(answer.body).toContain(`x-forwarded-host: ${host()}`);
    // The app's cookie stays on its own origin: its Domain is dropped.
    expect(answer.headers['set-cookie']).toEqual(['app=1; Path=/']);
    // None of the dashboard's headers (its CSP would break the app).
    expect(answer.headers['x-frame-options']).toBeUndefined();
  });

  it('a POST body streams to the app; one over the limit gets the 413 page', async () => {
    const { cookie } = await exchange(ana);
    const posted = await rawRequest(base, '/form', { method: 'POST', headers: { host: host(), cookie: cookie!, 'content-type': 'text/plain', origin: `http://${host()}` }, body: 'x'.repeat(1000) });
    expect(posted.status).toBe(200);
    expect(posted.body).toContain('x'.repeat(1000));
    const tooBig = await rawRequest(base, '/form', { method: 'POST', headers: { host: host(), cookie: cookie! }, body: 'x'.repeat(70_000) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toContain('at most 64 KiB');
  });

  it('a WebSocket upgrade reaches the app and echoes', async () => {
    const { cookie } = await exchange(ana);
    const ws = previewSocket(base, '/ws', { host: host(), cookie: cookie!, origin: `http://${host()}` });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('hot reload');
    expect(await echoed).toBe('hot reload');
    ws.close();
  });

  it('a kept-alive channel the app closed unannounced never fails the next request', async () => {
    const { cookie } = await exchange(ana);
    // Each answer of /close ends its connection right after it; the next request may be handed that channel.
    for (let i = 0; i < 30; i++) {
      const answer = await rawRequest(base, `/close?${i}`, { headers: { host: host(), cookie: cookie! } });
      expect({ i, status: answer.status }).toEqual({ i, status: 200 });
      const posted = await rawRequest(base, `/close?post-${i}`, { method: 'POST', headers: { host: host(), cookie: cookie!, 'content-type': 'text/plain' }, body: `body ${i}` });
      expect({ i, status: posted.status, body: posted.body.endsWith(`body ${i}`) }).toEqual({ i, status: 200, body: true });
    }
  });

  it('bad input: malformed host 400, unknown box and port and no access the same 404, nobody listening, a timeout', async () => {
    const { cookie } = await exchange(ana);
    const malformed = await rawRequest(base, '/', { headers: { host: `not-a-preview.${DOMAIN}` } });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toContain(`PORT--BOX.${DOMAIN}`);
    const unknownBox = await rawRequest(base, '/', { headers: { host: `${APP_PORT}--nobox.${DOMAIN}`, cookie: cookie! } });
    expect(unknownBox.status).toBe(404);
    const bobs = await exchange(bob);
    expect(bobs.open.status).toBe(404);
    expect(bobs.open.body).toBe(unknownBox.body);
    // Ana's cookie is for port 8123 only: another port sends her back through the exchange.
    expect((await rawRequest(base, '/', { headers: { host: host(8124), cookie: cookie! } })).status).toBe(302);
    const other = await exchange(ana, 8124);
    const nobody = await rawRequest(base, '/', { headers: { host: host(8124), cookie: other.cookie! } });
    expect(nobody.status).toBe(502);
    expect(nobody.body).toContain('Nobody listens on port 8124');
    expect(nobody.headers.refresh).toBe('2');
    const slow = await rawRequest(base, '/slow', { headers: { host: host(), cookie: cookie! } });
    expect(slow.status).toBe(504);
    // No cookie at all: a GET goes to the dashboard's exchange, which keeps the path.
    const fresh = await rawRequest(base, '/deep/page', { headers: { host: host() } });
    expect(fresh.status).toBe(302);
    expect(fresh.headers.location).toBe(`${backend.origin}${PREVIEW_OPEN_PATH}?box=preview-box&port=${APP_PORT}&path=%2Fdeep%2Fpage`);
  });

  it('the path form: the app under /preview/box/port/~key, sandboxed, the key its credential, redirects and cookies kept under the prefix', async () => {
    const pathBackend = await startBackend();
    try {
      await lab.authorize(pathBackend.services.dashboardPublicKey);
      const pathBase = (await pathBackend.listen()).replace('ws://', 'http://');
      const carol = await pathBackend.addUser('carol@example.com');
      await pathBackend.addBox('preview-box', lab, carol);
      const open = await rawRequest(pathBase, `${PREVIEW_OPEN_PATH}?box=preview-box&port=${APP_PORT}&path=/x`, { headers: { cookie: carol.cookie } });
      expect(open.status).toBe(302);
      const location = new URL(open.headers.location!);
      expect(location.pathname).toBe(`/preview/preview-box/${APP_PORT}/__boxyard/preview-redeem`);
      const redeem = await rawRequest(pathBase, location.pathname + location.search);
      // No cookie: Chromium sends none with a sandboxed page's requests; the key in the path goes with relative URLs.
      expect(redeem.headers['set-cookie']).toBeUndefined();
      const keyed = /^(\/preview\/preview-box\/8123\/~[A-Za-z0-9_.-]+)\/x$/.exec(redeem.headers.location ?? '');
      expect(keyed, redeem.headers.location).not.toBeNull();
      const prefix = keyed![1]!;
      const answer = await rawRequest(pathBase, `${prefix}/x`, { headers: { cookie: carol.cookie } });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatch(/^GET \/x HTTP\/1.1/);
      expect(answer.body).not.toMatch(/boxyard\./);
      expect(answer.body).toContain(`x-forwarded-prefix: ${prefix}`);
      expect(answer.headers['content-security-policy']).toMatch(/^sandbox /);
      expect(answer.headers['referrer-policy']).toBe('no-referrer');
      expect(answer.headers['set-cookie']).toEqual([`app=1; Path=/preview/preview-box/${APP_PORT}`]);
      // Without the key a GET goes back through the exchange; a key of another port, or a forged one, does not open it.
      const keyless = await rawRequest(pathBase, `/preview/preview-box/${APP_PORT}/x`, { headers: { cookie: carol.cookie } });
      expect(keyless.status).toBe(302);
      expect(keyless.headers.location).toContain(`${PREVIEW_OPEN_PATH}?box=preview-box&port=${APP_PORT}&path=%2Fx`);
      expect((await rawRequest(pathBase, `${prefix.replace('/8123/', '/8124/')}/x`)).status).toBe(302);
      expect((await rawRequest(pathBase, `${prefix.slice(0, -1)}${prefix.endsWith('A') ? 'B' : 'A'}/x`)).status).toBe(302);
      // A WebSocket of the page carries the key too (a relative ws URL).
      const ws = previewSocket(pathBase, `${prefix}/ws`, {});
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
      ws.send('path form');
      expect(await echoed).toBe('path form');
      ws.close();
      expect((await rawRequest(pathBase, '/preview/preview-box/notaport/')).status).toBe(400);
    } finally {
      await pathBackend.stop();
    }
  });

  it('sharing with every signed-in user opens the port for another developer; revoking closes their WebSocket at once', async () => {
    expect((await exchange(bob)).open.status).toBe(404);
    await shareBoxPort(backend.services, ana.user, box.id, APP_PORT, 'authenticated');
    const { cookie } = await exchange(bob);
    expect((await rawRequest(base, '/', { headers: { host: host(), cookie: cookie! } })).status).toBe(200);
    const ws = previewSocket(base, '/ws', { host: host(), cookie: cookie! });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const closed = new Promise((resolve) => ws.once('close', resolve));
    const started = Date.now();
    await revokeShare(backend.services, ana.user, box.id, APP_PORT);
    await closed;
    expect(Date.now() - started).toBeLessThan(1_000);
    await until(async () => (await rawRequest(base, '/', { headers: { host: host(), cookie: cookie! } })).status === 404, 'the revoked share refused', 5_000);
    const audit = await backend.services.db.auditEvent.findMany({ where: { action: { startsWith: 'preview.' } }, select: { action: true } });
    expect(audit.map((event) => event.action)).toEqual(expect.arrayContaining(['preview.open', 'preview.share', 'preview.unshare']));
  });

  it('a public link opens the port for anyone, only while an admin allows public links; revoking ends the link', async () => {
    const { services, admin } = backend;
    await expect(shareBoxPort(services, ana.user, box.id, APP_PORT, 'public')).rejects.toThrow('Public sharing is off on this dashboard');
    await appRouter.createCaller({ services, user: admin.user }).previews.setPublicSharing({ allowed: true });
    const anas = appRouter.createCaller({ services, user: ana.user });
    await anas.previews.share({ boxId: box.id, port: APP_PORT, level: 'public' });
    const [shared] = await anas.previews.shares({ boxId: box.id });
    expect(shared).toMatchObject({ port: APP_PORT, level: 'public' });
    const link = new URL(shared!.link!);
    // Anyone: no dashboard session at all.
    const anonymous = async () => {
      const open = await rawRequest(base, link.pathname + link.search);
      if (open.status !== 302) return { status: open.status };
      const redeem = new URL(open.headers.location!);
      const redeemed = await rawRequest(base, redeem.pathname + redeem.search, { headers: { host: redeem.host } });
      return { status: redeemed.status, cookie: redeemed.headers['set-cookie']?.[0]?.split(';')[0] };
    };
    const viewer = await anonymous();
    expect(viewer.status).toBe(302);
    const page = () => rawRequest(base, '/', { headers: { host: host(), cookie: viewer.cookie! } });
    expect((await page()).status).toBe(200);
    // A link with a forged signature opens nothing.
    const forged = new URLSearchParams(link.search);
    const token = forged.get('link')!;
    forged.set('link', `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`);
    expect((await rawRequest(base, `${link.pathname}?${forged}`)).status).toBe(404);

    await setPublicSharing(services, admin.user, false);
    await until(async () => (await page()).status === 404, 'the link viewer refused once public links are off', 5_000);
    expect((await anonymous()).status).toBe(404);
    await setPublicSharing(services, admin.user, true);
    expect((await anonymous()).status).toBe(302);
    await revokeShare(services, ana.user, box.id, APP_PORT);
    expect((await anonymous()).status).toBe(404);
    const audit = await services.db.auditEvent.findMany({ where: { action: 'preview.settings' }, orderBy: { at: 'asc' }, select: { detail: true } });
    expect(audit.map((event) => JSON.parse(event.detail))).toEqual([{ publicSharing: true }, { publicSharing: false }, { publicSharing: true }]);
    await setPublicSharing(services, admin.user, false);
  });

  it('a sleeping box: woken once for the viewer, the waking page (reloading) until it answers, then the app', async () => {
    let wake!: () => void;
    const woken: string[] = [];
    const sleeping = await listenWithPreviewWake(backend, async (boxId, actor, onWaking) => {
      woken.push(`${boxId} ${actor.email}`);
      onWaking('suspended');
      await new Promise<void>((resolve) => (wake = resolve));
    });
    const failing = await listenWithPreviewWake(backend, async (_boxId, _actor, onWaking) => {
      onWaking('stopped');
      throw new AppError('SSH_TIMEOUT', 'preview-box did not wake up in time (job j-1 is still running).');
    });
    try {
      const { cookie } = await exchange(ana);
      const get = (url: string) => rawRequest(url, '/', { headers: { host: host(), cookie: cookie! } });
      for (let i = 0; i < 2; i++) {
        const waiting = await get(sleeping.url);
        expect(waiting.status).toBe(503);
        expect(waiting.body).toContain('preview-box was suspended; it is being woken now');
        expect(waiting.headers.refresh).toBe('2');
      }
      expect(woken).toEqual([`${box.id} ana@example.com`]);
      wake();
      await until(async () => (await get(sleeping.url)).status === 200, 'the app once the box is awake', 5_000);

      const first = await get(failing.url);
      expect(first.status).toBe(503);
      // The reloading page's next request gets the reason, once; a reload after it tries again.
      let failed: RawResponse | undefined;
      await until(async () => (failed = await get(failing.url)).status !== 503, 'the failed wake said', 5_000);
      expect(failed!.status).toBe(502);
      expect(failed!.body).toContain('preview-box did not wake up in time (job j-1 is still running).');
      expect((await get(failing.url)).status).toBe(503);
    } finally {
      await sleeping.previews.stop();
      await failing.previews.stop();
    }
  });

  it('an app that stops: nobody listens', async () => {
    const { cookie } = await exchange(ana);
    await stopPreviewApp(lab, APP_PORT);
    await until(async () => (await rawRequest(base, '/', { headers: { host: host(), cookie: cookie! } })).status === 502, 'the nobody-listens page', 10_000);
  });
});

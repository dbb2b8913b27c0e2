// A preview of an app in a Docker container on the box, reached through the container's published port (the way
// `docker compose up` with `ports: ["8200:80"]` runs it): busybox httpd in the lab's tiny image (nothing can be
// pulled), a static page and a CGI script that prints the request as the app sees it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREVIEW_COOKIE, PREVIEW_OPEN_PATH } from '../../lib/preview';
import { rawRequest } from '../../testing/helpers/previews';
import { LAB_START_TIMEOUT_MS } from '../../testing/helpers/ssh';
import { startBackend, type Backend, type TestUser } from '../../testing/helpers/terminals';
import { until } from '../../testing/helpers/wait';
import { installDockerInBox, runTinyContainer } from '../../testing/lab/docker-box';
import { startLabBox, type LabBox } from '../../testing/lab/lab';

const DOMAIN = 'preview.localhost';
const PUBLISHED = 8200;
const SITE = '/srv/preview-site';

describe('a preview of a container on the box', () => {
  let backend: Backend;
  let lab: LabBox;
  let ana: TestUser;
  let base: string;
  const host = `${PUBLISHED}--docker-box.${DOMAIN}`;

  beforeAll(async () => {
    [backend, lab] = await Promise.all([startBackend({ BOXYARD_PREVIEW_DOMAIN: DOMAIN }), startLabBox({ namePrefix: 'preview-docker', dockerCapable: true })]);
    await installDockerInBox(lab);
    await lab.authorize(backend.services.dashboardPublicKey);
    base = (await backend.listen()).replace('ws://', 'http://');
    ana = await backend.addUser('ana@example.com');
    await backend.addBox('docker-box', lab, ana);
    const site = await lab.root(
      `mkdir -p ${SITE}/cgi-bin && echo '<h1>from the container</h1>' >${SITE}/index.html && ` +
        `printf '#!/bin/sh\\nprintf "Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n"\\nenv\\n' >${SITE}/cgi-bin/env && chmod +x ${SITE}/cgi-bin/env`,
    );
    expect(site.code, site.stderr).toBe(0);
    await runTinyContainer(lab, 'preview-web', { publish: [`${PUBLISHED}:80`], volumes: [`${SITE}:/www`], command: 'busybox httpd -f -p 80 -h /www' });
    await until(async () => (await lab.root(`wget -q -O- http://127.0.0.1:${PUBLISHED}/ 2>&1 || curl -fsS http://127.0.0.1:${PUBLISHED}/ 2>&1`)).stdout.includes('from the container'), 'the container answering on its published port', {
      timeoutMs: 20_000,
      describe: async () => (await lab.root(`ss -ltnp; docker ps -a; docker logs preview-web 2>&1 | tail -5`)).stdout,
    });
  }, LAB_START_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    await backend?.stop();
    await lab?.remove();
  });

  it("opens through the published port: the page, and the request as the app sees it; gone once the container stops", async () => {
    const open = await rawRequest(base, `${PREVIEW_OPEN_PATH}?box=docker-box&port=${PUBLISHED}`, { headers: { cookie: ana.cookie } });
    expect(open.status).toBe(302);
    const location = new URL(open.headers.location!);
    const redeem = await rawRequest(base, location.pathname + location.search, { headers: { host: location.host } });
    const cookie = redeem.headers['set-cookie']!.find((line) => line.startsWith(`${PREVIEW_COOKIE}=`))!.split(';')[0]!;

    const page = await rawRequest(base, '/', { headers: { host, cookie: `${cookie}; ${ana.cookie}` } });
    expect(page.status, page.body).toBe(200);
    expect(page.body).toContain('<h1>from the container</h1>');

    const seen = await rawRequest(base, '/cgi-bin/env', { headers: { host, cookie: `${cookie}; ${ana.cookie}; theirs=1` } });
    expect(seen.status).toBe(200);
    expect(seen.body).toMatch(/^HTTP_COOKIE=theirs=1$/m);
    expect(seen.body).not.toContain('boxyard.');
    expect(seen.body).toMatch(/^HTTP_X_FORWARDED_FOR=127\.0\.0\.1$/m);
    expect(seen.body).toContain(`HTTP_X_FORWARDED_HOST=${host}`);

    const stopped = await lab.root('docker rm -f preview-web');
    expect(stopped.code, stopped.stderr).toBe(0);
    await until(async () => (await rawRequest(base, '/', { headers: { host, cookie } })).status === 502, 'the nobody-listens page once the container is gone', 10_000);
    expect((await rawRequest(base, '/', { headers: { host, cookie } })).body).toContain(`Nobody listens on port ${PUBLISHED}`);
  });
});

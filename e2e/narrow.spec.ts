import { mkdirSync } from 'node:fs';
import { dashboardPages } from '../testing/helpers/e2e/pages';
import { settled, sidewaysOverflow } from '../testing/helpers/e2e/settle';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

// Every page of app/ (the list pages.test.ts keeps complete) at a phone's 390 px and a laptop's 1366 px: at 390 the
// document must not be wider than the window (nothing scrolls sideways); each width is screenshotted into
// test-results/screenshots/, the box page with an online lab box that has samples (a real chart).
const SCREENSHOTS = 'test-results/screenshots';
const widths = [1366, 390] as const;

test('every page fits a 390 px phone; screenshots of each at 1366 and 390 px', async ({ adminPage: page, adminApi, labBox }) => {
  test.setTimeout(600_000);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const before = await adminApi.metrics.settings.query();
  await adminApi.metrics.updateSettings.mutate({ slowIntervalS: 5, fastIntervalS: 2 });
  try {
    const box = await adminApi.boxes.create.mutate({ name: uniqueName('phone'), host: labBox.host, port: labBox.port, sshUser: 'dev', tags: ['e2e'], auth: { method: 'dashboard-key' } });
    const host = await adminApi.hosts.create.mutate({ name: uniqueName('vps-host'), kind: 'ssh', host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
    // A job that ends quickly: provisioning a box nobody listens for fails at its first SSH step.
    const dead = await adminApi.boxes.create.mutate({ name: uniqueName('gone'), host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });
    const { jobId } = await adminApi.provision.docker.mutate({ boxId: dead.id });
    // The box page's chart needs samples: the sampler picks the box up within a reconcile round.
    await expect
      .poll(async () => (await adminApi.metrics.series.query({ boxId: box.id, from: Date.now() - 600_000, to: Date.now() })).points.length, { timeout: 120_000 })
      .toBeGreaterThan(1);

    const ids = { box: box.id, host: host.id, job: jobId };
    const tooWide: string[] = [];
    for (const [route, address] of Object.entries(dashboardPages)) {
      for (const width of widths) {
        await page.setViewportSize({ width, height: 900 });
        await page.goto(address(ids));
        await settled(page);
        if (route === '/boxes/[id]') await expect(page.getByTestId('metrics-card').locator('canvas').first()).toBeVisible();
        if (width === 390) {
          const overflow = await sidewaysOverflow(page);
          if (overflow > 0) tooWide.push(`${route}: ${overflow} px wider than 390`);
        }
        const file = `${route === '/' ? 'fleet' : route.slice(1).replaceAll('/', '_').replace(/[[\]]/g, '')}-${width}.png`;
        await page.screenshot({ path: `${SCREENSHOTS}/${file}`, fullPage: true });
      }
    }
    expect(tooWide).toEqual([]);
  } finally {
    await adminApi.metrics.updateSettings.mutate(before.settings);
  }
});

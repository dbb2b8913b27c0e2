import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

// Metrics in the browser: the fleet row of a lab box gets a CPU sparkline (an SVG image named for the box) and, with the idle window
// shortened through the admin settings API, "idle for N min"; the box page's chart renders and asks for the fast
// interval while it is open.
test('fleet shows a sparkline and "idle for" for a lab box; the box chart renders and samples fast', async ({ adminPage: page, adminApi, labBox }, testInfo) => {
  const before = await adminApi.metrics.settings.query();
  await adminApi.metrics.updateSettings.mutate({ idleWindowS: 2, slowIntervalS: 5, fastIntervalS: 2, idleCpuPct: 20 });
  try {
    const name = uniqueName('metrics');
    const box = await adminApi.boxes.create.mutate({ name, host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });

    await page.goto('/');
    const row = page.locator(`tr[data-box="${name}"]`);
    await expect(row.getByTestId('box-activity').getByRole('img', { name: `CPU of ${name}, last hour` })).toBeVisible({ timeout: 60_000 });
    // The sampler picks the box up within a reconcile round (15 s), then the box is quiet for the 2 s window.
    await expect(row.getByTestId('activity')).toHaveText(/^idle for \d+ min$/, { timeout: 90_000 });
    await expect(page.getByTestId('fleet-summary')).toContainText('idle');
    await testInfo.attach('fleet-with-activity', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

    await page.goto(`/boxes/${box.id}`);
    const card = page.getByTestId('metrics-card');
    await expect(card.locator('canvas').first()).toBeVisible();
    // The open page pings metrics.watch: the stream switches to the fast interval.
    await expect(card).toContainText('sampled every 2 s', { timeout: 30_000 });
    // The dashboard uploaded its compiled sampler to the box on first contact (scripts/build-sampler.sh built it).
    await expect(card).toContainText('by the compiled sampler');
    await expect(card).toContainText(/cpu \d+%/);
    await testInfo.attach('box-metrics-card', { body: await card.screenshot(), contentType: 'image/png' });
  } finally {
    await adminApi.metrics.updateSettings.mutate(before.settings);
  }
});

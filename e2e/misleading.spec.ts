import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

// Pages that never mislead: what cannot be seen or done says so, at once and in words.

test('a developer on an admin page sees "admins only", not an empty table with an "Add a user" form', async ({ page, makeDeveloper }) => {
  const dev = await makeDeveloper('dana');
  await signIn(page, dev);
  for (const address of ['/users', '/sessions', '/audit', '/hosts', '/hosts/new']) {
    await page.goto(address);
    await expect(page.getByRole('heading', { name: 'Admins only' })).toBeVisible();
    await expect(page.getByRole('form', { name: 'Add a user' })).toHaveCount(0);
    await expect(page.getByRole('table')).toHaveCount(0);
  }
  // Their own pages are theirs as before.
  await page.goto('/profile');
  await expect(page.getByTestId('admins-only')).toHaveCount(0);
});

test('a missing box says "not found" within 1 s, and an unknown address gets the 404 page', async ({ adminPage: page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Fleet' })).toBeVisible();
  // From the page's load (its scripts ran): no retried 404 behind seconds of "Loading…".
  await page.goto('/boxes/no-such-box');
  const loaded = Date.now();
  await expect(page.getByRole('heading', { name: 'Box not found' })).toBeVisible({ timeout: 1_000 });
  expect(Date.now() - loaded).toBeLessThan(1_000);

  await page.goto('/no/such/page');
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await page.getByRole('link', { name: 'Back to the fleet' }).click();
  await expect(page.getByRole('heading', { name: 'Fleet' })).toBeVisible();
});

test('an unreachable box disables provision, reboot and terminal with the reason, and its chart says it has no samples', async ({ adminPage: page, adminApi }) => {
  // Port 9 on the loopback: nobody listens, every connection is refused.
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('away'), host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}`);
  await expect(page.locator('h1 [data-status]')).toHaveAttribute('data-status', 'unreachable');

  const reason = 'The box cannot be reached right now: these actions need an SSH connection to it.';
  await expect(page.getByRole('button', { name: 'New terminal' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Provision Docker' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Reboot…' })).toBeDisabled();
  await expect(page.getByRole('button', { name: 'Power off…' })).toBeDisabled();
  await expect(page.getByTestId('blocked-reason').first()).toHaveText(reason);
  expect(await page.getByTestId('blocked-reason').count()).toBe(3);

  const metrics = page.getByTestId('metrics-card');
  await expect(metrics.getByTestId('no-samples')).toHaveText('No samples yet: the box has not been reached.');
  await expect(metrics.locator('canvas')).toHaveCount(0);
  await expect(metrics).not.toContainText('sampled every 0 s');
  await expect(metrics).not.toContainText('every ? s');
});

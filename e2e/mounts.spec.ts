import { errorCodeOf, signedInApi } from '../testing/helpers/e2e/api';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

test('an admin edits a box\'s mount policy, sees the guarantees per mount, and round-trips boxyard.mounts.yaml', async ({ adminPage: page, adminApi, labBox }, testInfo) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('mounts'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}`);
  const card = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Mounts' }) });
  await expect(card).toContainText('No mounts.');

  // A system folder is refused with the reason; nothing is saved.
  await card.getByRole('button', { name: 'Edit' }).click();
  await card.getByRole('button', { name: 'Add mount' }).click();
  await card.getByLabel('Guest path').fill('/etc');
  await card.getByLabel('Host path').fill('/srv/src/app');
  await card.getByLabel('Transport').selectOption('9p');
  await card.getByLabel('Mode').selectOption('cached');
  await card.getByRole('button', { name: 'Save policy' }).click();
  await expect(card.getByRole('alert')).toContainText('/etc is a system folder of the box');

  // Fixed, with build delegated under it.
  await card.getByLabel('Guest path').fill('/home/dev/app');
  await card.getByRole('button', { name: 'Add subdirectory' }).click();
  await card.getByLabel('Subdirectory', { exact: true }).fill('build');
  await card.getByRole('button', { name: 'Save policy' }).click();
  await expect(card.getByText('/home/dev/app', { exact: true }).first()).toBeVisible();
  await expect(card).toContainText('every guarantee holds');
  await expect(card).toContainText('some guarantees are weakened');
  await expect(card).toContainText('delegated 2');
  await testInfo.attach('mounts-card', { body: await card.screenshot(), contentType: 'image/png' });

  // Export shows the documented format; a broken import names the line and keeps the policy.
  await card.getByRole('button', { name: 'Export YAML' }).click();
  const yaml = card.getByLabel('boxyard.mounts.yaml');
  await expect(yaml).toHaveValue(/version: 1\nmounts:\n  - guest: \/home\/dev\/app\n    host: \/srv\/src\/app\n    transport: 9p\n    mode: cached\n    overrides:\n      build: delegated\n/);
  await yaml.fill('version: 1\nmounts:\n  - guest: /home/dev/app\n    host: /srv/src/app\n    transport: smb\n');
  await card.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(card.getByRole('alert')).toContainText('boxyard.mounts.yaml line 5: mount 1, transport: Choose 9p');
  const saved = await adminApi.mounts.get.query({ boxId: box.id });
  expect(saved.mounts.map((m) => m.spec)).toEqual([{ hostPath: '/srv/src/app', guestPath: '/home/dev/app', transport: '9p', mode: 'cached', readOnly: false, overrides: [{ subPath: 'build', mode: 'delegated' }] }]);

  // Applying on a box that is not a VM fails the job with what to add by hand.
  const { jobId } = await adminApi.mounts.applyPolicy.mutate({ boxId: box.id });
  await expect.poll(async () => (await adminApi.jobs.get.query({ id: jobId })).status, { timeout: 60_000 }).toBe('failed');
  expect((await adminApi.jobs.get.query({ id: jobId })).error).toMatch(/is not a VM on a registered hypervisor host[\s\S]*<filesystem type='mount' accessmode='mapped'>/);
  await adminApi.boxes.delete.mutate({ id: box.id });
});

test('a developer who may see a box but does not own it cannot change its mounts', async ({ adminApi, makeDeveloper, labBox, baseURL }) => {
  const dev = await makeDeveloper('dev-mounts');
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('shared'), host: labBox.host, port: labBox.port, sshUser: 'dev', memberIds: [dev.id], auth: { method: 'dashboard-key' } });
  const { client } = await signedInApi(baseURL!, dev);
  expect((await client.mounts.get.query({ boxId: box.id })).canEdit).toBe(false);
  expect(await errorCodeOf(client.mounts.save.mutate({ boxId: box.id, mounts: [] }))).toBe('FORBIDDEN');
  expect(await errorCodeOf(client.mounts.applyPolicy.mutate({ boxId: box.id }))).toBe('FORBIDDEN');
  expect(await errorCodeOf(client.mounts.get.query({ boxId: 'not-a-box' }))).toBe('NOT_FOUND');
  await adminApi.boxes.delete.mutate({ id: box.id });
});

import { errorCodeOf, signedInApi } from '../testing/helpers/e2e/api';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

test('an admin adds a lab box as a Parallels host and sees the plain "prlctl not found" message', async ({ adminPage: page, adminApi, labBox }, testInfo) => {
  const name = uniqueName('mac');
  const message = `prlctl not found on host ${name}: is Parallels Desktop installed?`;

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts' }).click();
  await expect(page.getByRole('heading', { name: 'Hosts' })).toBeVisible();
  await page.getByRole('link', { name: 'Add host' }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Hypervisor', { exact: true }).selectOption('parallels');
  await page.getByLabel('Host', { exact: true }).fill(labBox.host);
  await page.getByLabel('SSH port', { exact: true }).fill(String(labBox.port));
  await page.getByLabel('SSH user', { exact: true }).fill(labBox.user);
  await page.getByRole('button', { name: 'Add host' }).click();

  // Saved even though the tool is missing; the VMs section says why in one plain sentence.
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.getByRole('alert').filter({ hasText: message })).toBeVisible();
  await expect(page.getByRole('alert').filter({ hasText: message })).toHaveText(message);
  await expect(page.locator('[data-fact="Host key"]')).toContainText(await labBox.hostKeyFingerprint('ed25519'));
  await testInfo.attach('host-page', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

  await page.getByRole('link', { name: 'Hosts /' }).click();
  const row = page.locator(`tr[data-host="${name}"]`);
  await expect(row).toContainText('Parallels Desktop');
  await expect(row).toContainText(message);

  const [saved] = (await adminApi.hosts.list.query()).filter((h) => h.name === name);
  expect(saved).toMatchObject({ kind: 'parallels', lastError: message });
  await adminApi.hosts.delete.mutate({ id: saved!.id });
});

test('developers do not see hosts: FORBIDDEN from the API and no Hosts link', async ({ page, makeDeveloper, baseURL }) => {
  const dev = await makeDeveloper('dev-hosts');
  const { client } = await signedInApi(baseURL!, dev);
  expect(await errorCodeOf(client.hosts.list.query())).toBe('FORBIDDEN');
  expect(await errorCodeOf(client.hosts.vms.query({ id: 'anything' }))).toBe('FORBIDDEN');
  expect(await errorCodeOf(client.vms.onHost.query({ hostId: 'anything' }))).toBe('FORBIDDEN');
  expect(await errorCodeOf(client.vms.hostAction.mutate({ hostId: 'anything', vmId: 'x', action: 'start' }))).toBe('FORBIDDEN');
  // A box the developer cannot reach looks like one that does not exist.
  expect(await errorCodeOf(client.vms.boxAction.mutate({ boxId: 'anything', action: 'start' }))).toBe('NOT_FOUND');

  await page.goto('/login');
  await page.getByLabel('Email').fill(dev.email);
  await page.getByLabel('Password').fill(dev.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText(dev.email);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts' })).toHaveCount(0);
});

test('an admin chooses which host folders box owners may share, on the host page', async ({ adminPage: page, adminApi, labBox }) => {
  const host = await adminApi.hosts.create.mutate({ name: uniqueName('roots'), kind: 'parallels', host: labBox.host, port: labBox.port, sshUser: labBox.user, auth: { method: 'dashboard-key' } });
  expect(host.shareRoots).toEqual([]);
  await page.goto(`/hosts/${host.id}`);
  const roots = page.getByLabel('Allowed roots');
  await expect(roots).toHaveValue('');
  await roots.fill('relative/src');
  await page.getByRole('button', { name: 'Save allowed roots' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'shared-folder root' })).toContainText('A shared-folder root is an absolute path on the host (starts with /), e.g. /Users/*/src.');
  await roots.fill('/Users/*/src/\n\n/srv/shared');
  await page.getByRole('button', { name: 'Save allowed roots' }).click();
  await expect(page.getByText('Saved.')).toBeVisible();
  await page.reload();
  await expect(page.getByLabel('Allowed roots')).toHaveValue('/Users/*/src\n/srv/shared');
  expect((await adminApi.hosts.get.query({ id: host.id })).shareRoots).toEqual(['/Users/*/src', '/srv/shared']);
  await adminApi.hosts.delete.mutate({ id: host.id });
});

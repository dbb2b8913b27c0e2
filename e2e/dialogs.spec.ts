import { randomBytes } from 'node:crypto';
import { generateDashboardKeyPair } from '../server/ssh/keys';
import { errorCodeOf, type Api } from '../testing/helpers/e2e/api';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

/**
 * Every destructive action asks in the dashboard's own dialog (never the browser's): it names what goes, Cancel keeps
 * the thing, confirming removes it, and where a name must be typed the button stays disabled until it is. The
 * outcome is a toast.
 */

/** A box nobody can reach (nothing listens on port 9): enough for the dialogs, which act on the dashboard's records. */
async function unreachableBox(adminApi: Api) {
  return adminApi.boxes.create.mutate({ name: uniqueName('dialog-box'), host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });
}

test('deleting a user: Cancel keeps them, Delete user removes them', async ({ adminPage: page, adminApi, makeDeveloper }) => {
  const dev = await makeDeveloper('dialog-user');
  await page.goto('/users');
  const row = page.locator(`tr[data-user="${dev.email}"]`);
  await row.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Delete ${dev.email}?`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toBeVisible();
  expect((await adminApi.users.list.query()).some((u) => u.email === dev.email)).toBe(true);

  await row.getByRole('button', { name: 'Delete' }).click();
  await dialog.getByRole('button', { name: 'Delete user' }).click();
  await expect(page.getByText('User deleted.')).toBeVisible();
  await expect(row).toBeHidden();
  expect((await adminApi.users.list.query()).some((u) => u.email === dev.email)).toBe(false);
});

test('a role change asks first: Cancel keeps the role, Change role changes it', async ({ adminPage: page, adminApi, makeDeveloper }) => {
  const dev = await makeDeveloper('dialog-role');
  await page.goto('/users');
  const role = page.getByLabel(`Role of ${dev.email}`);
  await role.selectOption('admin');
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Make ${dev.email} an admin?`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(role).toHaveValue('developer');
  expect((await adminApi.users.list.query()).find((u) => u.email === dev.email)?.role).toBe('developer');

  await role.selectOption('admin');
  await dialog.getByRole('button', { name: 'Change role' }).click();
  await expect(page.getByText(`${dev.email} is now admin.`)).toBeVisible();
  await expect(role).toHaveValue('admin');
  expect((await adminApi.users.list.query()).find((u) => u.email === dev.email)?.role).toBe('admin');
  await adminApi.users.setRole.mutate({ id: dev.id, role: 'developer' });
});

test('removing a box needs its name typed; Cancel keeps it', async ({ adminPage: page, adminApi }) => {
  const box = await unreachableBox(adminApi);
  await page.goto(`/boxes/${box.id}`);
  await page.getByRole('button', { name: 'Remove', exact: true }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Remove ${box.name} from Boxyard?`);
  const confirm = dialog.getByRole('button', { name: 'Remove box' });
  await expect(confirm).toBeDisabled();
  await dialog.getByLabel(`Type ${box.name} to confirm`).fill(box.name.slice(0, -1));
  await expect(confirm).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect((await adminApi.boxes.get.query({ id: box.id })).name).toBe(box.name);

  await page.getByRole('button', { name: 'Remove', exact: true }).click();
  // The typed text does not survive a cancelled dialog.
  await expect(dialog.getByLabel(`Type ${box.name} to confirm`)).toHaveValue('');
  await dialog.getByLabel(`Type ${box.name} to confirm`).fill(box.name);
  await confirm.click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByText('Box removed from Boxyard.')).toBeVisible();
  expect(await errorCodeOf(adminApi.boxes.get.query({ id: box.id }))).toBe('NOT_FOUND');
});

test('reboot and power-off of a plain box need its name typed; Cancel queues nothing, confirming queues the job', async ({ adminPage: page, adminApi, labBox }) => {
  // A box that answers: on an unreachable one these buttons are disabled with the reason (misleading.spec.ts).
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('dialog-power'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await expect.poll(async () => (await adminApi.boxes.get.query({ id: box.id })).status, { timeout: 30_000 }).toBe('online');
  await page.goto(`/boxes/${box.id}`);
  const power = page.locator('section').filter({ has: page.getByRole('heading', { name: 'Power' }) });
  await power.getByRole('button', { name: 'Power off…' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Power off ${box.name}?`);
  await expect(dialog.getByRole('button', { name: 'Power off' })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await power.getByRole('button', { name: 'Reboot…' }).click();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect(await adminApi.jobs.list.query({ boxId: box.id })).toEqual([]);

  await power.getByRole('button', { name: 'Reboot…' }).click();
  await dialog.getByLabel(`Type ${box.name} to confirm`).fill(box.name);
  await dialog.getByRole('button', { name: 'Reboot' }).click();
  await expect(page.getByText(/^Job \w+ queued\.$/)).toBeVisible();
  expect((await adminApi.jobs.list.query({ boxId: box.id })).map((job) => job.kind)).toEqual(['box.reboot']);
  await adminApi.boxes.delete.mutate({ id: box.id });
});

test('deleting a host needs its name typed; Cancel keeps it', async ({ adminPage: page, adminApi }) => {
  const host = await adminApi.hosts.create.mutate({ name: uniqueName('dialog-host'), kind: 'ssh', host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/hosts/${host.id}`);
  await page.getByRole('button', { name: 'Delete host' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Delete the host ${host.name}?`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await adminApi.hosts.list.query()).some((h) => h.id === host.id)).toBe(true);

  await page.getByRole('button', { name: 'Delete host' }).click();
  await dialog.getByLabel(`Type ${host.name} to confirm`).fill(host.name);
  await dialog.getByRole('button', { name: 'Delete host' }).click();
  await expect(page).toHaveURL(/\/hosts$/);
  await expect(page.getByText('Host deleted.')).toBeVisible();
  expect((await adminApi.hosts.list.query()).some((h) => h.id === host.id)).toBe(false);
});

test('removing an SSH key and revoking a token: Cancel keeps them, confirming removes them', async ({ adminPage: page, adminApi }) => {
  const keyName = `dialog key ${randomBytes(3).toString('hex')}`;
  await adminApi.profile.keys.add.mutate({ name: keyName, publicKey: generateDashboardKeyPair('dialogs').publicKey });
  const tokenName = `dialog token ${randomBytes(3).toString('hex')}`;
  await adminApi.profile.tokens.create.mutate({ name: tokenName });
  await page.goto('/profile');
  const dialog = page.getByRole('alertdialog');

  const key = page.locator(`[data-key="${keyName}"]`);
  await key.getByRole('button', { name: 'Remove' }).click();
  await expect(dialog).toContainText(`Remove the key "${keyName}"?`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(key).toBeVisible();
  await key.getByRole('button', { name: 'Remove' }).click();
  await dialog.getByRole('button', { name: 'Remove key' }).click();
  await expect(key).toBeHidden();
  expect((await adminApi.profile.keys.list.query()).some((k) => k.name === keyName)).toBe(false);

  const token = page.locator(`[data-token="${tokenName}"]`);
  await token.getByRole('button', { name: 'Revoke' }).click();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect((await adminApi.profile.tokens.list.query()).find((t) => t.name === tokenName)?.revokedAt).toBeNull();
  await token.getByRole('button', { name: 'Revoke' }).click();
  await dialog.getByRole('button', { name: 'Revoke token' }).click();
  await expect(token).toContainText('revoked');
  expect((await adminApi.profile.tokens.list.query()).find((t) => t.name === tokenName)?.revokedAt).not.toBeNull();
});

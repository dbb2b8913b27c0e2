import { TRPCClientError } from '@trpc/client';
import { errorCodeOf, signedInApi } from '../testing/helpers/e2e/api';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

test('an admin adds a lab box through the form and sees it online with its facts', async ({ adminPage: page, labBox }, testInfo) => {
  const name = uniqueName('web');
  await page.getByRole('link', { name: 'Add box' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Host').fill(labBox.host);
  await page.getByLabel('SSH port').fill(String(labBox.port));
  await page.getByLabel('SSH user').fill(labBox.user);
  await page.getByLabel('Tags').fill('e2e lab');
  await page.getByRole('button', { name: 'Add box' }).click();

  await expect(page.getByRole('heading', { name })).toBeVisible();
  await expect(page.locator('[data-status]').first()).toHaveAttribute('data-status', 'online');
  await expect(page.locator('[data-fact="OS"]')).toHaveText('Debian GNU/Linux 12 (bookworm)');
  await expect(page.locator('[data-fact="Virtualization"]')).toHaveText('docker');
  // The pinned key is the box's real ed25519 host key.
  await expect(page.locator('[data-fact="Host key"]')).toContainText(await labBox.hostKeyFingerprint('ed25519'));

  await page.getByRole('link', { name: 'Fleet /' }).click();
  const row = page.locator(`tr[data-box="${name}"]`);
  await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'online');
  await expect(row).toContainText('Debian GNU/Linux 12');
  await testInfo.attach('fleet-page', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
  await page.getByLabel('Search boxes').fill(name);
  await expect(page.locator('tr[data-box]')).toHaveCount(1);
});

test('bad input in the add-box form says what to fix and saves nothing', async ({ adminPage: page, adminApi, labBox }) => {
  const taken = uniqueName('taken');
  await adminApi.boxes.create.mutate({ name: taken, host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });

  await page.goto('/boxes/new');
  await page.getByLabel('Name').fill('<b>Web</b>');
  await page.getByLabel('Host').fill('not a host!');
  await page.getByLabel('SSH user').fill('dev');
  await page.getByRole('button', { name: 'Add box' }).click();
  await expect(page.getByText('Use lowercase letters, digits and inner hyphens')).toBeVisible();
  await expect(page.getByText('Enter a hostname')).toBeVisible();

  await page.getByLabel('Name').fill(taken);
  await page.getByLabel('Host').fill(labBox.host);
  await page.getByRole('button', { name: 'Add box' }).click();
  await expect(page.getByRole('alert').filter({ hasText: `The name "${taken}" is already taken` })).toBeVisible();
  const boxes = await adminApi.boxes.list.query({ search: taken });
  expect(boxes.map((b) => b.name)).toEqual([taken]);
});

test('a developer sees only their own boxes, in the UI and through the API', async ({ page, adminApi, labBox, makeDeveloper, baseURL }) => {
  const alice = await makeDeveloper('alice');
  const bob = await makeDeveloper('bob');
  const alicesBox = await adminApi.boxes.create.mutate({
    name: uniqueName('alice-box'),
    host: labBox.host,
    port: labBox.port,
    sshUser: 'dev',
    ownerId: alice.id,
    auth: { method: 'dashboard-key' },
  });

  await signIn(page, bob);
  await expect(page.getByText('No boxes have been shared with you yet.')).toBeVisible();
  await expect(page.locator(`tr[data-box="${alicesBox.name}"]`)).toHaveCount(0);
  await page.goto(`/boxes/${alicesBox.id}`);
  await expect(page.getByRole('main').getByRole('alert')).toHaveText('No such box, or you do not have access to it.');

  const { client: bobApi } = await signedInApi(baseURL!, bob);
  expect(await bobApi.boxes.list.query()).toEqual([]);
  expect(await errorCodeOf(bobApi.boxes.get.query({ id: alicesBox.id }))).toBe('NOT_FOUND');
  expect(await errorCodeOf(bobApi.boxes.refresh.mutate({ id: alicesBox.id }))).toBe('NOT_FOUND');
  expect(await errorCodeOf(bobApi.boxes.delete.mutate({ id: alicesBox.id }))).toBe('FORBIDDEN');
  expect(
    await errorCodeOf(
      bobApi.boxes.create.mutate({ name: uniqueName('bob-box'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } }),
    ),
  ).toBe('FORBIDDEN');
  expect(await errorCodeOf(bobApi.users.list.query())).toBe('FORBIDDEN');
  expect(await errorCodeOf(bobApi.audit.list.query({ limit: 10 }))).toBe('FORBIDDEN');

  const { client: aliceApi } = await signedInApi(baseURL!, alice);
  expect((await aliceApi.boxes.list.query()).map((b) => b.id)).toEqual([alicesBox.id]);
});

test('a box whose sshd stopped shows unreachable with a plain message, and recovers', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('stops'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  expect(box.status).toBe('online');
  await page.goto('/');
  const row = page.locator(`tr[data-box="${box.name}"]`);
  await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'online');

  await labBox.stopSshd();
  // No reload: the page and the status poller notice by themselves.
  await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'unreachable');
  // The lab publishes ports through docker-proxy, which accepts TCP and then closes: the message says so
  // (a port nobody listens on reads "connection refused on ...", covered in server/ssh/pool.test.ts).
  await expect(row.getByTestId('status-message')).toHaveText(
    `the connection to 127.0.0.1:${labBox.port} was closed before the SSH server answered; check that sshd is running on the box`,
  );

  await labBox.startSshd();
  await expect(row.locator('[data-status]')).toHaveAttribute('data-status', 'online', { timeout: 90_000 });
});

test('a changed host key is refused until an admin re-pins it', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('rekeyed'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  const oldKey = await labBox.hostKeyFingerprint('ed25519');
  expect(box.hostKey?.fingerprint).toBe(oldKey);

  await labBox.regenerateHostKeys();
  const newKey = await labBox.hostKeyFingerprint('ed25519');
  await page.goto(`/boxes/${box.id}`);
  await page.getByRole('button', { name: 'Refresh facts' }).click();
  await expect(page.locator('[data-status]').first()).toHaveAttribute('data-status', 'host-key-mismatch');
  await expect(page.getByTestId('box-status-message')).toContainText(`host key changed: expected ${oldKey}, got ${newKey}`);

  // Refused through the API too, and nothing ran: the audit log shows the refusal.
  const refused = await adminApi.boxes.refresh.mutate({ id: box.id }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(TRPCClientError);
  expect((refused as Error).message).toContain('host key changed');

  await page.getByRole('button', { name: 'Trust the new key' }).click();
  await expect(page.locator('[data-status]').first()).toHaveAttribute('data-status', 'online');
  await expect(page.locator('[data-fact="Host key"]')).toContainText(newKey);
  const audit = await adminApi.audit.list.query({ limit: 50, action: 'box.hostkey.repin' });
  expect(audit.items.some((e) => e.boxId === box.id)).toBe(true);
});

test('a dashboard opened at another origin than BOXYARD_URL says where it works', async ({ page, baseURL }) => {
  const elsewhere = baseURL!.replace('127.0.0.1', 'localhost');
  await page.goto(`${elsewhere}/login`);
  await expect(page.getByRole('alert').filter({ hasText: 'configured for' })).toContainText(`configured for ${baseURL} (BOXYARD_URL) but was opened at ${elsewhere}`);
});

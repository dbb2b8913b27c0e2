import { randomBytes } from 'node:crypto';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

/** Every user changes their own password; an account an admin creates chooses a new one before anything else. */

async function signOut(page: import('@playwright/test').Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
}

async function refusedSignIn(page: import('@playwright/test').Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert').filter({ hasText: /./ })).toBeVisible();
  await expect(page).toHaveURL(/\/login/);
}

test('a developer changes their own password on the profile page, then signs in with the new one only', async ({ page, makeDeveloper }) => {
  const dev = await makeDeveloper('own-password');
  await signIn(page, dev);
  await page.goto('/profile');
  const form = page.getByRole('form', { name: 'Change your password' });
  await form.getByLabel('Current password').fill('not-the-password');
  await form.getByLabel('New password').fill('a-brand-new-password');
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(form.getByRole('alert')).toBeVisible();

  const newPassword = `new-${randomBytes(8).toString('hex')}`;
  await form.getByLabel('Current password').fill(dev.password);
  await form.getByLabel('New password').fill(newPassword);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(form.getByRole('status')).toHaveText('Password changed; your other sessions were signed out.');

  await signOut(page);
  await refusedSignIn(page, dev);
  await signIn(page, { email: dev.email, password: newPassword });
});

test('an account an admin creates chooses a new password at its first sign-in, before any other page', async ({ adminPage: page, adminApi }) => {
  const email = `${uniqueName('first-login')}@e2e.test`;
  const initial = `initial-${randomBytes(6).toString('hex')}`;
  await page.goto('/users');
  const form = page.getByRole('form', { name: 'Add a user' });
  await form.getByLabel('Name').fill('First Login');
  await form.getByLabel('Email').fill(email);
  await form.getByLabel('Initial password').fill(initial);
  await expect(form.getByLabel('They choose a new password at their first sign-in')).toBeChecked();
  await form.getByRole('button', { name: 'Add user' }).click();
  await expect(page.getByText(`${email} added.`)).toBeVisible();
  const row = page.locator(`tr[data-user="${email}"]`);
  await expect(row).toContainText('new password pending');
  await signOut(page);

  await signIn(page, { email, password: initial });
  await expect(page).toHaveURL(/\/password$/);
  await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  // Any other page sends them back first.
  await page.goto('/profile');
  await expect(page).toHaveURL(/\/password$/);
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeHidden();
  // The server holds the line too: with the admin's password, nothing but choosing a new one works.
  const refused = await page.request.get('/api/trpc/boxes.list');
  expect(refused.status()).toBe(403);
  expect((await refused.json()).error.json.message).toBe('Choose a new password first: an admin asked for one (the dashboard sends you to its password page).');
  expect((await page.request.get('/api/trpc/users.me')).status()).toBe(200);

  const chosen = `chosen-${randomBytes(8).toString('hex')}`;
  await page.getByLabel('Current password').fill(initial);
  await page.getByLabel('New password').fill(chosen);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto('/profile');
  await expect(page.getByRole('heading', { name: 'Profile' })).toBeVisible();
  expect((await adminApi.users.list.query()).find((u) => u.email === email)?.mustChangePassword).toBe(false);

  // An admin can ask again; the next page they open is the password page.
  const user = (await adminApi.users.list.query()).find((u) => u.email === email)!;
  await adminApi.users.requireNewPassword.mutate({ id: user.id });
  await page.goto('/');
  await expect(page).toHaveURL(/\/password$/);
  const audit = await adminApi.audit.page.query({ action: 'user.', pageSize: 50 });
  expect(audit.items.filter((e) => e.action === 'user.password.change' && e.actorEmail === email)).toHaveLength(1);
  expect(audit.items.some((e) => e.action === 'user.require-new-password' && e.detail.email === email)).toBe(true);
});

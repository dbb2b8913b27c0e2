import { randomBytes } from 'node:crypto';
import { test as base, expect, type Page } from '@playwright/test';
import { e2eAdmin } from './admin';
import { startLabBox, type LabBox } from '../../lab/lab';
import { signedInApi, type Api } from './api';

export interface Person {
  email: string;
  password: string;
  id: string;
}

interface Fixtures {
  /** tRPC client signed in as the first admin. */
  adminApi: Api;
  /** A page signed in as the first admin. */
  adminPage: Page;
  /** A fresh lab box that accepts the dashboard's key; removed after the test. */
  labBox: LabBox;
  /** Creates a developer account through the API. */
  makeDeveloper: (label: string) => Promise<Person>;
}

export function uniqueName(prefix: string) {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText(who.email);
}

export const test = base.extend<Fixtures>({
  adminApi: async ({ baseURL }, use) => {
    const { client } = await signedInApi(baseURL!, e2eAdmin);
    await use(client);
  },
  adminPage: async ({ page }, use) => {
    await signIn(page, e2eAdmin);
    await use(page);
  },
  labBox: async ({ adminApi }, use) => {
    const box = await startLabBox({ namePrefix: 'e2e' });
    const { publicKey } = await adminApi.settings.dashboardPublicKey.query();
    await box.authorize(publicKey);
    await use(box);
    await box.remove();
  },
  makeDeveloper: async ({ adminApi }, use) => {
    await use(async (label) => {
      const email = `${uniqueName(label)}@e2e.test`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      // They keep the password the test set (signIn uses it); the forced first change has its own test.
      const user = await adminApi.users.create.mutate({ email, name: label, password, role: 'developer', requireNewPassword: false });
      return { email, password, id: user.id };
    });
  },
});

export { expect };

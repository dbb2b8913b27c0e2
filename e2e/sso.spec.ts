// Single sign-on in Chromium, through a real OpenID Connect provider's own login and consent pages (oidc-provider in
// its own process, testing/helpers/oidc.ts). This spec runs its own dashboard (the same production build, another
// port and data folder) configured for that provider, so the other specs keep a dashboard without single sign-on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, expect, type Page } from '@playwright/test';
import { signedInApi, type Api } from '../testing/helpers/e2e/api';
import { startOidcProvider, type FixtureUser, type OidcProvider } from '../testing/helpers/oidc';
import { freePort, startProcess, type Running } from '../testing/helpers/process';
import { until } from '../testing/helpers/wait';

const admin = { email: 'admin@sso.test', password: 'sso-admin-password' };
const member = (email: string, groups: string[]): FixtureUser => ({ email, email_verified: true, name: email.split('@')[0]!, groups });

let provider: OidcProvider;
let dashboard: Running;
let dataDir: string;
let baseURL: string;
let adminApi: Api;

test.beforeAll(async () => {
  const port = await freePort();
  baseURL = `http://127.0.0.1:${port}`;
  provider = await startOidcProvider(baseURL);
  dataDir = mkdtempSync(path.join(tmpdir(), 'boxyard-e2e-sso-'));
  dashboard = startProcess('node', ['.next-server/main.mjs'], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      BOXYARD_DATA_DIR: dataDir,
      BOXYARD_ADMIN_EMAIL: admin.email,
      BOXYARD_ADMIN_PASSWORD: admin.password,
      LOG_LEVEL: 'warn',
      SIGNIN_ATTEMPTS_PER_MINUTE: '1000',
      OIDC_ALLOWED_DOMAINS: 'team.test',
      ...provider.dashboardEnv(),
    },
  });
  await until(async () => (await fetch(`${baseURL}/api/health`).catch(() => null))?.ok, 'the single sign-on dashboard to start', {
    timeoutMs: 120_000,
    describe: () => dashboard.stdout(),
  });
  adminApi = (await signedInApi(baseURL, admin)).client;
  for (const [name, tags] of [['pay-box', ['payments']], ['search-box', ['search']]] as const) {
    await adminApi.boxes.create.mutate({ name, host: '127.0.0.1', port: 9, sshUser: 'dev', tags: [...tags], auth: { method: 'dashboard-key' } });
  }
});

test.afterAll(async () => {
  dashboard?.kill();
  await dashboard?.exited;
  await provider?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** "Sign in with Test IdP", then the provider's own login page (any password) and consent page. */
async function signInWithProvider(page: Page, login: string) {
  await page.goto(`${baseURL}/login`);
  await page.getByRole('button', { name: 'Sign in with Test IdP' }).click();
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any-password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
}

test('a new user signs in through the provider as a developer and sees only their group\'s boxes', async ({ page }) => {
  provider.setUsers({ alice: member('alice@team.test', ['team-payments']) });
  await signInWithProvider(page, 'alice');
  await expect(page.getByTestId('signed-in-as')).toContainText('alice@team.test');
  await expect(page.getByRole('link', { name: 'Users' })).toHaveCount(0);

  const group = (await adminApi.groups.list.query()).find((g) => g.name === 'team-payments')!;
  expect(group).toMatchObject({ source: 'provider', members: [expect.objectContaining({ email: 'alice@team.test' })] });
  await adminApi.groups.save.mutate({ id: group.id, boxIds: [], tags: ['payments'], memberIds: [] });
  await page.reload();
  await expect(page.getByRole('link', { name: 'pay-box' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'search-box' })).toHaveCount(0);
});

test('a user in the admin group lands as admin, and is a developer at the next sign-in once removed from it', async ({ browser }) => {
  provider.setUsers({ bob: member('bob@team.test', ['boxyard-admins']) });
  const first = await browser.newPage();
  await signInWithProvider(first, 'bob');
  await expect(first.getByTestId('signed-in-as')).toContainText('bob@team.test');
  await expect(first.getByRole('link', { name: 'Users' })).toBeVisible();
  await first.close();

  provider.setUsers({ bob: member('bob@team.test', []) });
  const again = await browser.newPage();
  await signInWithProvider(again, 'bob');
  await expect(again.getByTestId('signed-in-as')).toContainText('bob@team.test');
  await expect(again.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(again.getByRole('link', { name: 'search-box' })).toHaveCount(0);
  await again.close();
});

test('an address outside the allowed domains is refused with a sentence on the sign-in page', async ({ page }) => {
  provider.setUsers({ mallory: member('mallory@elsewhere.test', ['boxyard-admins']) });
  await signInWithProvider(page, 'mallory');
  await expect(page).toHaveURL(/\/login\?error=email_domain_not_allowed/);
  await expect(page.getByText('Your email address may not make an account on this dashboard; ask an admin to add your domain or address.')).toBeVisible();
  expect((await adminApi.users.list.query()).map((u) => u.email)).not.toContain('mallory@elsewhere.test');
});

test('a password account signing in through the provider with the same verified email stays one account', async ({ page }) => {
  const carol = await adminApi.users.create.mutate({ email: 'carol@team.test', name: 'Carol', password: 'carol-password-1', role: 'developer' });
  provider.setUsers({ carol: member('carol@team.test', []) });
  await signInWithProvider(page, 'carol');
  await expect(page.getByTestId('signed-in-as')).toContainText('carol@team.test');
  const carols = (await adminApi.users.list.query()).filter((u) => u.email === 'carol@team.test');
  expect(carols.map((u) => u.id)).toEqual([carol.id]);
});

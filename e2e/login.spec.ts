import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { cliLoginFailure } from '../lib/cli-login';
import { expect, test, uniqueName } from '../testing/helpers/e2e/laptop';
import { until } from '../testing/helpers/wait';

/**
 * `boxyard login` end to end: the CLI runs on a "laptop" (its own HOME), the developer opens the link it prints in
 * Chromium, signs in, checks the code and approves; the CLI ends signed in with its own token, `connect` works with
 * that login, and once the token is revoked on the profile page the CLI is refused with a plain sentence.
 */

/** The link `boxyard login` prints, once it has printed it. */
async function loginLink(login: { stdout(): string }): Promise<string> {
  return until(() => /^ {2}(http\S+\/device\?user_code=\S+)$/m.exec(login.stdout())?.[1], 'the CLI to print the link', { describe: () => login.stdout() });
}

test('a developer approves `boxyard login` in the browser; the CLI is signed in until the token is revoked on the profile page', async ({ page, adminApi, makeDeveloper, labBox, laptop, baseURL }) => {
  const dana = await makeDeveloper('dana');
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('dana-dev'), host: labBox.host, port: labBox.port, sshUser: 'dev', ownerId: dana.id, auth: { method: 'dashboard-key' } });

  const login = laptop.startBoxyard('login', baseURL!);
  const link = await loginLink(login);
  const shownCode = /approve the code (\S+):/.exec(login.stdout())![1];

  // Not signed in: the link goes through the sign-in page and comes back to the code.
  await page.goto(link);
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel('Email').fill(dana.email);
  await page.getByLabel('Password').fill(dana.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(link);
  await expect(page.getByTestId('device-machine')).toHaveText(hostname());
  await expect(page.getByTestId('device-code')).toHaveText(shownCode!);
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByRole('status')).toHaveText(`Approved: the CLI on ${hostname()} is signed in as ${dana.email}. You can close this tab.`);

  const signed = await login.exited;
  expect(signed.stderr).toBe('');
  expect(signed.code).toBe(0);
  expect(signed.stdout).toContain(`Signed in to ${baseURL} as ${dana.email} (API token "boxyard CLI on ${hostname()}")`);
  expect((await stat(laptop.credentialsFile)).mode & 0o777).toBe(0o600);
  const { token } = JSON.parse(await readFile(laptop.credentialsFile, 'utf8')) as { token: string };

  // The saved login is all `connect` needs; its entries go through the tunnel with the same login.
  const connect = await laptop.boxyard('connect', '--dry-run', '--no-docker-contexts');
  expect(connect.stderr).toBe('');
  expect(connect.code).toBe(0);
  expect(connect.stdout).toContain(`${dana.email} may reach 1 box(es): ${box.name}.`);
  expect(connect.stdout).toContain(` proxy --url ${baseURL} --credentials ${laptop.credentialsFile} %n\n`);
  expect(connect.stdout).not.toContain(token);

  // The profile page lists the CLI's token; revoking it there cuts the CLI off.
  await page.goto('/profile');
  const row = page.locator(`[data-token="boxyard CLI on ${hostname()}"]`);
  await expect(row).toContainText(token.slice(0, 8));
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke token' }).click();
  await expect(row).toContainText('revoked');
  const refused = await laptop.boxyard('connect', '--dry-run', '--no-docker-contexts');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toBe('boxyard: the dashboard refused the token: This API token was revoked; make a new one on your profile page.\n');

  // The audit log has the approval and the login, with the token's name.
  const audit = await adminApi.audit.list.query({ limit: 50, action: 'cli.login' });
  const danas = audit.items.filter((event) => event.actorEmail === dana.email);
  expect(danas.map((event) => [event.action, (event.detail as { name?: string }).name ?? null]).sort()).toEqual([
    ['cli.login', `boxyard CLI on ${hostname()}`],
    ['cli.login.approve', null],
  ]);
});

test('a denied login and an unknown code each get one plain sentence, on the page and in the CLI', async ({ page, makeDeveloper, laptop, baseURL }) => {
  const erin = await makeDeveloper('erin');
  await page.goto('/login');
  await page.getByLabel('Email').fill(erin.email);
  await page.getByLabel('Password').fill(erin.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toContainText(erin.email);

  await page.goto('/device?user_code=ZZZZZZZZ');
  // The card's alert (Next's route announcer is an empty alert too).
  await expect(page.locator('section').getByRole('alert')).toHaveText('No sign-in is waiting for the code ZZZZ-ZZZZ: check it against the one your terminal shows.');

  const login = laptop.startBoxyard('login', baseURL!);
  await page.goto(await loginLink(login));
  await page.getByRole('button', { name: 'Deny' }).click();
  await expect(page.getByRole('status')).toHaveText(`Denied: the CLI on ${hostname()} was not signed in.`);
  const denied = await login.exited;
  expect(denied.code).toBe(1);
  expect(denied.stderr).toBe(`boxyard: ${cliLoginFailure.access_denied}\n`);
  await expect(stat(laptop.credentialsFile)).rejects.toThrow();
});

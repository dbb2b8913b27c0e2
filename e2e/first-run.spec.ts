import { shellQuote } from '../server/ssh/quote';
import { startLabBox } from '../testing/lab/lab';
import { e2eAdmin } from '../testing/helpers/e2e/admin';
import { startFreshDashboard } from '../testing/helpers/e2e/fresh-dashboard';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

// The first run on a dashboard nothing else has touched (a second dashboard process on an empty data folder): the
// checklist starts at 0 of 4, and ticks as the lead authorizes the dashboard's key on a real lab box with the line it
// shows, adds that box and adds a developer; dismissed, it stays away.
test('the first-run checklist ticks as a lead adds a box and a developer, and can be dismissed', async ({ browser }) => {
  test.setTimeout(240_000);
  const dashboard = await startFreshDashboard();
  const labBox = await startLabBox({ namePrefix: 'e2e-first' });
  const context = await browser.newContext({ baseURL: dashboard.url });
  try {
    const page = await context.newPage();
    await signIn(page, e2eAdmin);
    const checklist = page.getByTestId('first-run');
    const step = (title: string) => checklist.locator(`[data-step="${title}"]`);
    await expect(page.getByTestId('first-run-progress')).toHaveText('0 of 4 done');
    await expect(step('Add a box or a hypervisor host')).toHaveAttribute('data-done', 'false');
    await expect(step('Install the CLI on your laptop').getByLabel('CLI install command', { exact: true })).toContainText(`${dashboard.url}/cli/install.sh`);

    // The line the checklist shows, run on the box as its user, is what lets the dashboard in.
    const authorize = (await step('Add a box or a hypervisor host').getByLabel("command that authorizes the dashboard's key", { exact: true }).textContent())!;
    const ran = await labBox.root(`su - ${labBox.user} -c ${shellQuote(authorize)}`);
    expect(ran.code).toBe(0);

    await step('Add a box or a hypervisor host').getByRole('link', { name: 'Add a box' }).click();
    const name = uniqueName('first');
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Host').fill(labBox.host);
    await page.getByLabel('SSH port').fill(String(labBox.port));
    await page.getByLabel('SSH user').fill(labBox.user);
    await page.getByRole('button', { name: 'Add box' }).click();
    await expect(page.getByRole('heading', { name })).toBeVisible();
    await expect(page.locator('h1 [data-status]')).toHaveAttribute('data-status', 'online');

    await page.getByRole('link', { name: 'Fleet /' }).click();
    await expect(step('Add a box or a hypervisor host')).toHaveAttribute('data-done', 'true');
    await expect(page.getByTestId('first-run-progress')).toHaveText('1 of 4 done');

    await step('Invite developers').getByRole('link', { name: 'Add a user' }).click();
    const form = page.getByRole('form', { name: 'Add a user' });
    await form.getByLabel('Name').fill('Dev One');
    await form.getByLabel('Email').fill(`${uniqueName('dev')}@e2e.test`);
    await form.getByLabel('Initial password').fill('a-long-initial-password');
    await form.getByLabel('Role').selectOption('developer');
    await form.getByRole('button', { name: 'Add user' }).click();
    await expect(page.getByRole('table', { name: 'Users' })).toContainText('Dev One');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Fleet' }).click();
    await expect(step('Invite developers')).toHaveAttribute('data-done', 'true');
    await expect(page.getByTestId('first-run-progress')).toHaveText('2 of 4 done');
    await expect(step('Provision Docker on a box')).toHaveAttribute('data-done', 'false');

    await checklist.page().getByRole('button', { name: 'Dismiss' }).click();
    await expect(checklist).toHaveCount(0);
    await page.reload();
    await expect(page.locator(`tr[data-box="${name}"]`)).toBeVisible();
    await expect(page.getByTestId('first-run')).toHaveCount(0);
  } finally {
    await context.close();
    await labBox.remove();
    await dashboard.stop();
  }
});

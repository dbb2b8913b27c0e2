import { startLabBox, type LabBox } from '../testing/lab/lab';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

/**
 * Provisioning several boxes at once from the fleet page: one job per selected box, each with its own progress.
 * One box really gets Docker; the other's user lacks sudo, so its row must fail in plain words without holding up
 * the first.
 */
test.describe('provisioning many boxes from the fleet page', () => {
  let dockerBox: LabBox;
  let plainBox: LabBox;
  test.beforeEach(async ({ adminApi }) => {
    [dockerBox, plainBox] = await Promise.all([
      startLabBox({ namePrefix: 'e2e-batch', dockerCapable: true }),
      startLabBox({ namePrefix: 'e2e-batch-nosudo' }),
    ]);
    const { publicKey } = await adminApi.settings.dashboardPublicKey.query();
    await Promise.all([dockerBox.authorize(publicKey), plainBox.authorize(publicKey)]);
    await plainBox.root('rm /etc/sudoers.d/dev');
  });
  test.afterEach(async () => {
    await Promise.all([dockerBox?.remove(), plainBox?.remove()]);
  });

  test('selected boxes are provisioned together, each row showing its own progress and outcome', async ({ adminPage: page, adminApi }) => {
    test.setTimeout(300_000);
    const withDocker = await adminApi.boxes.create.mutate({ name: uniqueName('batch-docker'), host: dockerBox.host, port: dockerBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
    const noSudo = await adminApi.boxes.create.mutate({ name: uniqueName('batch-nosudo'), host: plainBox.host, port: plainBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });

    await page.goto('/');
    await page.getByLabel(`Select ${withDocker.name}`).check();
    await page.getByLabel(`Select ${noSudo.name}`).check();
    await expect(page.getByText('Provision Docker on 2 selected boxes')).toBeVisible();
    await page.getByRole('button', { name: 'Provision 2' }).click();

    const progress = page.getByRole('list', { name: 'Provisioning progress' });
    const dockerRow = progress.locator(`[data-batch-box="${withDocker.name}"]`);
    const noSudoRow = progress.locator(`[data-batch-box="${noSudo.name}"]`);
    await expect(noSudoRow).toContainText('needs passwordless sudo', { timeout: 60_000 });
    await expect(noSudoRow.locator('[data-job-status]')).toHaveText('failed');
    // The failed box does not stop the other one, which is still at work or already done.
    await expect(dockerRow.locator('[data-job-status]')).toHaveText('succeeded', { timeout: 240_000 });
    await expect(dockerRow).toContainText('8/8 steps');
    expect((await dockerBox.root("su -s /bin/sh dev -c 'docker info --format {{.ServerVersion}}'")).stdout.trim()).toMatch(/^\d+\.\d+/);

    // Each row links to its job's page with the full log.
    await noSudoRow.getByRole('link').click();
    await expect(page.getByTestId('job-log')).toContainText('needs passwordless sudo (NOPASSWD)');
  });
});

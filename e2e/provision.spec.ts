import { startLabBox, type LabBox } from '../testing/lab/lab';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

test.describe('Docker provisioning from the browser', () => {
  let dockerBox: LabBox;
  test.beforeEach(async ({ adminApi }) => {
    dockerBox = await startLabBox({ namePrefix: 'e2e-prov', dockerCapable: true });
    await dockerBox.authorize((await adminApi.settings.dashboardPublicKey.query()).publicKey);
  });
  test.afterEach(async () => {
    await dockerBox.remove();
  });

  test('a team lead provisions a bare box; a second run changes nothing', async ({ adminPage: page, adminApi }) => {
    test.setTimeout(300_000);
    const box = await adminApi.boxes.create.mutate({ name: uniqueName('prov'), host: dockerBox.host, port: dockerBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
    await page.goto(`/boxes/${box.id}`);
    await page.getByRole('button', { name: 'Provision Docker' }).click();

    await expect(page).toHaveURL(/\/jobs\//);
    const log = page.getByTestId('job-log');
    // The live log shows commands as they run, before the job ends.
    await expect(log).toContainText('$ ', { timeout: 60_000 });
    await expect(page.locator('[data-job] [data-job-status]').first()).toHaveText('succeeded', { timeout: 240_000 });
    await expect(page.locator('[data-step] [data-job-status]')).not.toContainText(['failed']);
    await expect(log).toContainText('docker');
    expect((await dockerBox.root("su -s /bin/sh dev -c 'docker info --format {{.ServerVersion}}'")).stdout.trim()).toMatch(/^\d+\.\d+/);
    const daemonJson = JSON.parse((await dockerBox.root('cat /etc/docker/daemon.json')).stdout) as Record<string, unknown>;
    expect(daemonJson).toMatchObject({ 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } });

    // Idempotence: the same job again finds everything done.
    await page.goto(`/boxes/${box.id}`);
    await page.getByRole('button', { name: 'Provision Docker' }).click();
    await expect(page.locator('[data-job] [data-job-status]').first()).toHaveText('succeeded', { timeout: 120_000 });
    const steps = page.locator('[data-step]');
    const count = await steps.count();
    for (let i = 0; i < count; i++) await expect(steps.nth(i)).toContainText('already done');
  });
});

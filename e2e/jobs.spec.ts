import { until } from '../testing/helpers/wait';
import { expect, signIn, test, uniqueName } from '../testing/helpers/e2e/test';

/**
 * The jobs page: a job that really fails (Docker provisioning on a lab box whose user lost sudo) is listed with its
 * filters, its skipped steps are named and never fill the bar, and Retry runs a new job with the same parameters.
 */
test('a failed provisioning job is found by its filters, shows its skipped steps, and Retry runs a new job', async ({ adminPage: page, adminApi, labBox }) => {
  test.setTimeout(240_000);
  await labBox.root('rm /etc/sudoers.d/dev');
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('jobs-nosudo'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  const { jobId } = await adminApi.provision.docker.mutate({ boxId: box.id, dockerSource: 'distro' });
  await until(async () => (await adminApi.jobs.get.query({ id: jobId })).status === 'failed', 'the job to fail', { timeoutMs: 120_000 });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
  await expect(page.getByRole('heading', { name: 'Jobs' })).toBeVisible();
  const filters = page.getByRole('form', { name: 'Filter jobs' });
  await filters.getByLabel('Box').selectOption({ label: box.name });
  await filters.getByLabel('Status').selectOption('failed');
  await filters.getByLabel('Kind').selectOption({ label: 'Docker provisioning' });
  const rows = page.getByRole('table', { name: 'Jobs' }).locator('tr[data-job-row]');
  await expect(rows).toHaveCount(1);
  const row = rows.first();
  await expect(row).toHaveAttribute('data-job-row', jobId);
  await expect(row).toContainText('needs passwordless sudo');
  // Another status filters it out.
  await filters.getByLabel('Status').selectOption('succeeded');
  await expect(page.getByText('No jobs match these filters.')).toBeVisible();
  await filters.getByLabel('Status').selectOption('failed');

  // Its page: the steps after the failure never ran; they say so and do not fill the bar.
  await row.getByRole('link', { name: 'Docker provisioning' }).click();
  await expect(page).toHaveURL(new RegExp(`/jobs/${jobId}$`));
  const job = await adminApi.jobs.get.query({ id: jobId });
  const ran = job.steps.filter((step) => step.status === 'succeeded' || step.status === 'failed').length;
  const skipped = job.steps.filter((step) => step.status === 'skipped').length;
  expect(skipped).toBeGreaterThan(0);
  await expect(page.getByTestId('job-progress')).toHaveText(`${ran}/${job.steps.length} steps, ${skipped} skipped`);
  await expect(page.getByRole('progressbar', { name: 'Job progress' })).toHaveAttribute('aria-valuenow', String(Math.round((ran / job.steps.length) * 100)));
  await expect(page.locator('[data-step] [data-job-status="skipped"]')).toHaveCount(skipped);

  // Retry from the jobs page: a new job, same kind, box and parameters, which fails the same way for real.
  await page.goto('/jobs');
  await filters.getByLabel('Box').selectOption({ label: box.name });
  await page.locator(`tr[data-job-row="${jobId}"]`).getByRole('button', { name: 'Retry' }).click();
  await expect(page.getByText(/^Job \w+ queued\.$/)).toBeVisible();
  const retried = await until(async () => (await adminApi.jobs.list.query({ boxId: box.id })).find((j) => j.id !== jobId), 'the retry to be listed');
  expect(retried).toMatchObject({ kind: 'docker', boxId: box.id, createdByEmail: 'admin@e2e.test', params: job.params });
  // Listed live, newest first, without a reload, and it really runs (and fails again: still no sudo).
  await expect(page.locator('tr[data-job-row]').first()).toHaveAttribute('data-job-row', retried.id);
  await expect(page.locator(`tr[data-job-row="${retried.id}"] [data-job-status]`)).toHaveText('failed', { timeout: 120_000 });
  expect((await adminApi.jobs.get.query({ id: retried.id })).steps.some((step) => step.status === 'failed')).toBe(true);
  const audit = await adminApi.audit.page.query({ action: 'job.retry', boxId: box.id });
  expect(audit.items.map((e) => e.detail)).toEqual([{ jobId: retried.id, retryOf: jobId, kind: 'docker' }]);
});

test('a developer sees only the jobs of their own boxes, without the admins\' Retry and Cancel', async ({ page, adminApi, makeDeveloper }) => {
  const dev = await makeDeveloper('jobs-dev');
  const mine = await adminApi.boxes.create.mutate({ name: uniqueName('jobs-mine'), host: '127.0.0.1', port: 9, sshUser: 'dev', ownerId: dev.id, auth: { method: 'dashboard-key' } });
  const theirs = await adminApi.boxes.create.mutate({ name: uniqueName('jobs-theirs'), host: '127.0.0.1', port: 9, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  const { jobId: myJob } = await adminApi.provision.docker.mutate({ boxId: mine.id });
  const { jobId: theirJob } = await adminApi.provision.docker.mutate({ boxId: theirs.id });

  await signIn(page, dev);
  await page.goto('/jobs');
  await expect(page.locator(`tr[data-job-row="${myJob}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-job-row="${theirJob}"]`)).toHaveCount(0);
  await expect(page.locator(`tr[data-job-row="${myJob}"]`).getByRole('button')).toHaveCount(0);
  await expect(page.getByRole('form', { name: 'Filter jobs' }).getByLabel('Box').locator('option')).toHaveText(['Every box', mine.name]);
  await Promise.all([adminApi.boxes.delete.mutate({ id: mine.id }), adminApi.boxes.delete.mutate({ id: theirs.id })]);
});

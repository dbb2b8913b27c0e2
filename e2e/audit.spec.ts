import { readFile } from 'node:fs/promises';
import type { Download, Page } from '@playwright/test';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';

/** The audit page's filters return only matching rows, details read as key: value, and the exports hold exactly them. */

async function downloaded(page: Page, button: string): Promise<{ download: Download; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: button }).click()]);
  return { download, text: await readFile((await download.path())!, 'utf8') };
}

test('audit filters return only matching rows and the CSV and JSON exports match them', async ({ adminPage: page, adminApi, makeDeveloper }) => {
  const [ann, ben] = [await makeDeveloper('audit-ann'), await makeDeveloper('audit-ben')];
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('audit-box'), host: '127.0.0.1', port: 9, sshUser: 'dev', ownerId: ann.id, auth: { method: 'dashboard-key' } });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  const filters = page.getByRole('form', { name: 'Filter audit events' });
  const rows = page.getByRole('table', { name: 'Audit events' }).locator('tr[data-event]');

  // By action and user: only the admin's user.create events, the two new developers among them, details as key: value.
  await filters.getByLabel('Action prefix').fill('user.create');
  await filters.getByLabel('User').selectOption('admin@e2e.test');
  await expect(rows.filter({ hasText: ann.email })).toHaveCount(1);
  const filter = { action: 'user.create', actorEmail: 'admin@e2e.test' };
  const expected = await adminApi.audit.page.query({ ...filter, pageSize: 50 });
  expect(expected.total).toBeLessThanOrEqual(50);
  await expect(rows).toHaveCount(expected.total);
  expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-event')))).toEqual(expected.items.map((e) => e.id));
  for (const action of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')))) expect(action).toBe('user.create');
  const annRow = rows.filter({ hasText: ann.email });
  await expect(annRow.locator('dt')).toHaveText(['email:', 'role:', 'requireNewPassword:']);
  await expect(annRow.locator('dd')).toHaveText([ann.email, 'developer', 'false']);
  await expect(page.getByTestId('audit-page')).toHaveText(`Page 1 of 1 · ${expected.total} events`);

  // The exports hold exactly these rows, in this order, and are audited themselves.
  const json = await downloaded(page, 'Export JSON');
  expect(json.download.suggestedFilename()).toMatch(/^boxyard-audit-.*\.json$/);
  expect((JSON.parse(json.text) as { id: string }[]).map((e) => e.id)).toEqual(expected.items.map((e) => e.id));
  const csv = await downloaded(page, 'Export CSV');
  const lines = csv.text.trimEnd().split('\r\n');
  expect(lines[0]).toBe('at,actorEmail,action,boxId,boxName,result,error,detail');
  expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(expected.items.map((e) => new Date(e.at).toISOString()));
  expect(lines.slice(1).every((line) => line.split(',')[2] === 'user.create')).toBe(true);
  expect(csv.text).toContain(ben.email);
  const exports = await adminApi.audit.page.query({ action: 'audit.export', pageSize: 2 });
  expect(exports.items.map((e) => [e.detail.format, e.detail.rows])).toEqual([
    ['csv', expected.total],
    ['json', expected.total],
  ]);

  // By box: only that box's events. By result and time: an error filter and a range in the future find nothing here.
  await filters.getByLabel('Action prefix').fill('');
  await filters.getByLabel('User').selectOption('');
  await filters.getByLabel('Box').selectOption({ label: box.name });
  await expect(rows.first()).toBeVisible();
  const ofBox = await adminApi.audit.page.query({ boxId: box.id, pageSize: 50 });
  await expect(rows).toHaveCount(ofBox.total);
  for (const cell of await rows.locator('td:nth-child(4)').allTextContents()) expect(cell).toBe(box.name);
  await filters.getByLabel('From').fill('2099-01-01T00:00');
  await expect(page.getByText('No events match these filters.')).toBeVisible();
  await expect(rows).toHaveCount(0);
  await adminApi.boxes.delete.mutate({ id: box.id });
});

test('the audit log is paged, not one long page', async ({ adminPage: page, adminApi }) => {
  // More than a page of events of its own: 51 API tokens made.
  for (let i = 0; i < 51; i++) await adminApi.profile.tokens.create.mutate({ name: uniqueName('audit-page') });
  await page.goto('/audit');
  const rows = page.getByRole('table', { name: 'Audit events' }).locator('tr[data-event]');
  await expect(rows).toHaveCount(50);
  const first = await rows.first().getAttribute('data-event');
  await page.getByRole('button', { name: 'Older' }).click();
  await expect(page.getByTestId('audit-page')).toContainText('Page 2 of');
  await expect(rows.first()).not.toHaveAttribute('data-event', first!);
  const second = await adminApi.audit.page.query({ page: 2, pageSize: 50 });
  await expect(rows.first()).toHaveAttribute('data-event', second.items[0]!.id);
});

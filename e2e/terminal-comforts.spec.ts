import type { Page } from '@playwright/test';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';
import { expectOutput, expectTerminalState, run, sessionIdOf, terminalLocator } from '../testing/helpers/e2e/terminal';

/** Search in the scrollback, clickable links opened without an opener, and copy on select (Linux, as here). */

/** The screen row (DOM renderer) whose text starts with `text`, and the width of one cell. */
async function rowStarting(page: Page, sessionId: string, text: string) {
  const row = terminalLocator(page, sessionId).locator('.xterm-rows > div').filter({ hasText: new RegExp(`^${text}`) }).last();
  const box = (await row.boundingBox())!;
  const cols = await page.evaluate((id) => window.__boxyardTerminals![id]!.cols, sessionId);
  return { box, cell: box.width / cols };
}

test('the terminal searches its scrollback, opens links with noopener and copies what is selected', async ({ adminPage: page, adminApi, labBox, baseURL }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('comforts'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  await page.goto(`/boxes/${box.id}`);
  await page.getByRole('button', { name: 'New terminal' }).click();
  const id = await sessionIdOf(page);
  await expectTerminalState(page, id, 'open');
  const link = `${baseURL}/api/health`;
  await run(page, id, `printf 'needle-%s\\n' 1 2 3; seq -f 'filler-%g' 1 200; printf '%s\\n' '${link}'; echo done-$((40+2))`);
  await expectOutput(page, id, /^done-42$/m);

  // Search: the match far up in the scrollback is found and selected; a missing one says so; Escape closes.
  const terminal = terminalLocator(page, id);
  await terminal.getByRole('button', { name: 'Search' }).click();
  const search = terminal.getByRole('search', { name: 'Search the terminal' });
  await search.getByLabel('Search the scrollback').fill('needle-2');
  await search.getByLabel('Search the scrollback').press('Enter');
  await expect.poll(() => page.evaluate((sid) => window.__boxyardTerminals![sid]!.getSelection(), id)).toBe('needle-2');
  await search.getByLabel('Search the scrollback').fill('nowhere-to-be-found');
  await search.getByLabel('Search the scrollback').press('Enter');
  await expect(search).toContainText('no match');
  await search.getByLabel('Search the scrollback').press('Escape');
  await expect(search).toBeHidden();
  // Ctrl+Shift+F from the terminal opens it again.
  await terminal.locator('.xterm').click();
  await page.keyboard.press('Control+Shift+F');
  await expect(search).toBeVisible();
  await search.getByLabel('Search the scrollback').press('Escape');
  await page.evaluate((sid) => window.__boxyardTerminals![sid]!.scrollToBottom(), id);

  // A link in the output opens in a new tab that has no window.opener.
  const linkRow = await rowStarting(page, id, 'http://');
  const y = linkRow.box.y + linkRow.box.height / 2;
  await page.mouse.move(linkRow.box.x + linkRow.cell * 3, y);
  await page.mouse.move(linkRow.box.x + linkRow.cell * 5, y);
  const [popup] = await Promise.all([page.context().waitForEvent('page'), page.mouse.click(linkRow.box.x + linkRow.cell * 5, y)]);
  await popup.waitForLoadState();
  expect(popup.url()).toBe(link);
  expect(await popup.evaluate(() => window.opener)).toBeNull();
  await popup.close();

  // Copy on select: dragging over "done-42" puts it on the clipboard, no key pressed.
  const doneRow = await rowStarting(page, id, 'done-42');
  const rowY = doneRow.box.y + doneRow.box.height / 2;
  await page.mouse.move(doneRow.box.x + 1, rowY);
  await page.mouse.down();
  await page.mouse.move(doneRow.box.x + doneRow.cell * 7 - 1, rowY, { steps: 5 });
  await page.mouse.up();
  await expect.poll(() => page.evaluate((sid) => window.__boxyardTerminals![sid]!.getSelection(), id)).toBe('done-42');
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe('done-42');
});

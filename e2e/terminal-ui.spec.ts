import type { Page, WebSocketRoute } from '@playwright/test';
import { expect, test, uniqueName } from '../testing/helpers/e2e/test';
import { terminalText as screen } from '../testing/helpers/e2e/terminal';

async function activeSession(page: Page): Promise<string> {
  const panel = page.locator('[role=tabpanel]:not([hidden]) [data-session-id]');
  return (await panel.getAttribute('data-session-id'))!;
}

async function typeIn(page: Page, id: string, text: string) {
  await page.locator(`[data-session-id="${id}"] .xterm`).click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

test('terminal tabs: open, type, reload re-attaches without duplicates, flood, paste, drop, exit, close', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('term'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  const routes: WebSocketRoute[] = [];
  const sent: string[] = [];
  await page.routeWebSocket(/\/api\/terminal/, (ws) => {
    routes.push(ws);
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      if (typeof m === 'string') sent.push(m);
      server.send(m);
    });
  });
  await page.goto(`/boxes/${box.id}`);
  await page.getByRole('button', { name: 'New terminal' }).click();
  await expect(page.getByRole('tab', { name: 'Shell 1' })).toHaveAttribute('aria-selected', 'true');
  const id = await activeSession(page);
  expect(page.url()).toContain(`t=${id}`);
  const wrapper = page.locator(`[data-session-id="${id}"]`);
  await expect(wrapper).toHaveAttribute('data-terminal-state', 'open');
  await typeIn(page, id, 'echo hello-$((6*7))');
  await expect.poll(() => screen(page, id)).toMatch(/^hello-42$/m);

  // Reload: attaches, replay resets, no duplicates.
  await page.reload();
  await expect(wrapper).toHaveAttribute('data-terminal-state', 'open');
  await expect.poll(() => screen(page, id)).toMatch(/^hello-42$/m);
  expect((await screen(page, id)).match(/^hello-42$/gm)).toHaveLength(1);
  expect(routes.at(-1)!.url()).toContain('mode=attach');
  expect(routes[0]!.url()).toContain('mode=new');

  // Flood: 2 MB of output needs acks.
  await typeIn(page, id, 'seq 1 300000; echo flood-$((1+1))');
  await expect.poll(() => screen(page, id), { timeout: 60_000 }).toMatch(/^flood-2$/m);
  const acked = () => sent.filter((m) => m.includes('"ack"')).reduce((sum, m) => sum + JSON.parse(m).bytes, 0);
  // seq 1 300000 prints 1,988,895 bytes, 2,288,895 once the PTY turns each newline into CRLF: all acknowledged (the
  // client batches its acks, so the last one may leave a moment after the screen shows the end).
  await expect.poll(acked).toBeGreaterThanOrEqual(2_288_895);

  // Paste 202 KB into cat.
  await typeIn(page, id, 'cat > /tmp/big');
  await expect.poll(() => page.evaluate((id) => window.__boxyardTerminals![id]!.modes.bracketedPasteMode, id)).toBe(false);
  const line = 'x'.repeat(100);
  const big = Array.from({ length: 2000 }, () => line).join('\n') + '\n';
  await page.evaluate(([id, big]) => window.__boxyardTerminals![id!]!.paste(big!), [id, big]);
  await page.keyboard.press('Control+d');
  await typeIn(page, id, 'wc -c < /tmp/big');
  await expect.poll(() => screen(page, id), { timeout: 30_000 }).toMatch(/^202000$/m);
  const inputs = sent.filter((m) => m.includes('"input"')).map((m) => Buffer.byteLength(JSON.parse(m).data));
  expect(Math.max(...inputs)).toBeLessThanOrEqual(64 * 1024);

  // Resize sends a resize message.
  await page.setViewportSize({ width: 900, height: 700 });
  await expect.poll(() => sent.some((m) => m.includes('"resize"'))).toBe(true);

  // A dropped connection reconnects by itself.
  await typeIn(page, id, 'clear; echo before-drop');
  await expect.poll(() => screen(page, id)).toMatch(/^before-drop$/m);
  await routes.at(-1)!.close({ code: 4999, reason: 'test drop' });
  await expect(wrapper).toHaveAttribute('data-terminal-state', 'reconnecting');
  await expect(wrapper.getByRole('status')).toContainText(/Reconnecting/);
  await expect(wrapper).toHaveAttribute('data-terminal-state', 'open');
  // The replay is written into xterm just after the socket opens: wait for it, then there is exactly one copy.
  await expect.poll(async () => (await screen(page, id)).match(/^before-drop$/gm)?.length ?? 0).toBe(1);

  // Copy with Ctrl+Shift+C.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.evaluate((id) => window.__boxyardTerminals![id]!.selectAll(), id);
  await page.keyboard.press('Control+Shift+C');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('before-drop');

  // Second tab, reload keeps both.
  await page.getByRole('button', { name: 'New terminal' }).click();
  await expect(page.getByRole('tab', { name: 'Shell 2' })).toHaveAttribute('aria-selected', 'true');
  const id2 = await activeSession(page);
  await expect(page.locator(`[data-session-id="${id2}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await page.reload();
  await expect(page.getByRole('tab')).toHaveCount(2);
  await expect(page.locator(`[data-session-id="${id}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await expect(page.locator(`[data-session-id="${id2}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await page.getByRole('tab', { name: 'Shell 1' }).click();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Shell 2' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'Shell 2' })).toBeFocused();

  // Sessions page.
  await page.getByRole('link', { name: 'Sessions' }).click();
  await expect(page.locator(`tr[data-session="${id}"]`)).toBeVisible();
  await expect(page.locator(`tr[data-session="${id2}"]`)).toContainText('no'); // the box page (and its sockets) is gone
  await page.goBack();
  await expect(page.getByRole('tab')).toHaveCount(2);

  // Exit in tab 2: ended, then start a new session in the same tab.
  await page.getByRole('tab', { name: 'Shell 2' }).click();
  await typeIn(page, id2, 'exit');
  const w2 = page.locator(`[data-session-id="${id2}"]`);
  await expect(w2).toHaveAttribute('data-terminal-state', 'ended');
  await expect(w2.getByRole('status')).toContainText('Session ended: the shell exited (code 0)');
  await w2.getByRole('button', { name: 'Start a new session' }).click();
  const id3 = await activeSession(page);
  expect(id3).not.toBe(id2);
  await expect(page.locator(`[data-session-id="${id3}"]`)).toHaveAttribute('data-terminal-state', 'open');
  expect(page.url()).toContain(id3);

  // Close tab 3: session ends.
  await page.getByRole('tabpanel').getByRole('button', { name: 'Close terminal' }).click();
  await expect(page.getByRole('tab')).toHaveCount(1);
  await expect.poll(async () => (await adminApi.terminals.list.query()).some((s) => s.id === id3)).toBe(false);

  // Full screen.
  await page.getByRole('link', { name: 'Open full screen' }).click();
  await expect(page).toHaveURL(new RegExp(`/terminal\\?session=${id}`));
  await expect(page.locator(`[data-session-id="${id}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await expect.poll(() => screen(page, id)).toMatch(/^before-drop$/m);
  await expect(page.getByTestId('terminal-connection-state')).toHaveText('Connected');
  await page.getByRole('link', { name: 'Back to box' }).click();
  await expect(page.getByRole('tab', { name: 'Shell 1' })).toBeVisible();
  await expect.poll(() => screen(page, id)).toMatch(/^before-drop$/m);

  // Admin closes it from the sessions page: tab shows ended.
  await adminApi.terminals.close.mutate({ id });
  await expect(page.locator(`[data-session-id="${id}"]`)).toHaveAttribute('data-terminal-state', 'ended');
  await expect(page.locator(`[data-session-id="${id}"]`).getByRole('status')).toContainText('Session ended:');

  // Full screen without a session makes one.
  await page.goto(`/boxes/${box.id}/terminal`);
  await expect(page).toHaveURL(/session=[0-9a-f-]{36}/);
  const id4 = new URL(page.url()).searchParams.get('session')!;
  await expect(page.locator(`[data-session-id="${id4}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await typeIn(page, id4, 'echo full-$((2*3))');
  await expect.poll(() => screen(page, id4)).toMatch(/^full-6$/m);
  await page.reload();
  await expect(page.locator(`[data-session-id="${id4}"]`)).toHaveAttribute('data-terminal-state', 'open');
  expect((await screen(page, id4)).match(/^full-6$/gm)).toHaveLength(1);
});

test('a second browser tab takes the session over; the first can take it back', async ({ adminPage: page, adminApi, labBox }) => {
  const box = await adminApi.boxes.create.mutate({ name: uniqueName('term'), host: labBox.host, port: labBox.port, sshUser: 'dev', auth: { method: 'dashboard-key' } });
  await page.goto(`/boxes/${box.id}/terminal`);
  await expect(page).toHaveURL(/session=[0-9a-f-]{36}/);
  const url = page.url();
  const id = new URL(url).searchParams.get('session')!;
  const first = page.locator(`[data-session-id="${id}"]`);
  await expect(first).toHaveAttribute('data-terminal-state', 'open');
  const other = await page.context().newPage();
  await other.goto(url);
  await expect(other.locator(`[data-session-id="${id}"]`)).toHaveAttribute('data-terminal-state', 'open');
  await expect(first).toHaveAttribute('data-terminal-state', 'ended');
  await expect(first.getByRole('status')).toContainText('Disconnected: This terminal was opened in another tab or window.');
  await first.getByRole('button', { name: 'Take over here' }).click();
  await expect(first).toHaveAttribute('data-terminal-state', 'open');
  await expect(other.locator(`[data-session-id="${id}"]`)).toHaveAttribute('data-terminal-state', 'ended');
  await page.goto('/sessions');
  await expect(page.locator(`tr[data-session="${id}"]`)).toBeVisible();
  await page.locator(`tr[data-session="${id}"]`).getByRole('button', { name: 'Close' }).click();
  await expect(page.locator(`tr[data-session="${id}"]`)).toHaveCount(0);
  await expect(page.getByText('No open sessions.')).toBeVisible();
});

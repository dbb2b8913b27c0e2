import { expect, type Page } from '@playwright/test';

/**
 * Reading and driving the browser terminal. Text is read from xterm's own buffer through the test hook
 * `window.__boxyardTerminals[sessionId]` (components/terminal/terminal-view.tsx), never from the DOM.
 */

export function terminalLocator(page: Page, sessionId?: string) {
  return sessionId ? page.locator(`[data-session-id="${sessionId}"]`) : page.locator('[data-session-id]').first();
}

export async function sessionIdOf(page: Page): Promise<string> {
  const id = await terminalLocator(page).getAttribute('data-session-id');
  if (!id) throw new Error('no terminal on the page');
  return id;
}

export async function terminalText(page: Page, sessionId: string): Promise<string> {
  return page.evaluate((id) => {
    const term = window.__boxyardTerminals?.[id];
    if (!term) return '';
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i)?.translateToString(true) ?? '');
    return lines.join('\n');
  }, sessionId);
}

export async function terminalSize(page: Page, sessionId: string): Promise<{ cols: number; rows: number }> {
  return page.evaluate((id) => {
    const term = window.__boxyardTerminals![id]!;
    return { cols: term.cols, rows: term.rows };
  }, sessionId);
}

export async function expectTerminalState(page: Page, sessionId: string, state: 'connecting' | 'open' | 'reconnecting' | 'ended', timeout?: number) {
  await expect(terminalLocator(page, sessionId)).toHaveAttribute('data-terminal-state', state, { timeout });
}

/** Types a command line into the terminal (xterm's hidden textarea has the focus) and presses Enter. */
export async function run(page: Page, sessionId: string, command: string) {
  await terminalLocator(page, sessionId).click();
  await page.keyboard.type(command);
  await page.keyboard.press('Enter');
}

/** Polls the buffer until `pattern` appears (the output of a command, not its echo). */
export async function expectOutput(page: Page, sessionId: string, pattern: RegExp, timeout = 30_000) {
  await expect.poll(() => terminalText(page, sessionId), { timeout }).toMatch(pattern);
}

declare global {
  interface Window {
    __boxyardTerminals?: Record<string, import('@xterm/xterm').Terminal>;
  }
}

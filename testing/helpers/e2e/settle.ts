import { expect, type Page } from '@playwright/test';

/** The page has loaded its data: the shell and the page show no "Loading…" any more. */
export async function settled(page: Page): Promise<void> {
  await expect(page.getByText('Loading…')).toHaveCount(0);
}

/**
 * How much wider than the window the document is, in px (0: nothing scrolls sideways). It waits up to 5 s for the
 * document to fit first: a page may still lay out what it just loaded.
 */
export async function sidewaysOverflow(page: Page): Promise<number> {
  await page.waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, undefined, { timeout: 5_000 }).catch(() => undefined);
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

import type { ServerResponse } from 'node:http';

/**
 * The pages a preview answers with itself instead of the app's response: plain HTML, no script (a meta refresh
 * where the page should try again), so they work under any CSP the preview origin has. On a preview origin they get a
 * policy of their own that allows nothing else; answered by the dashboard's own route (/api/preview/open), they keep
 * the dashboard's policy, which the edge set already.
 */
export interface PreviewPage {
  status: number;
  title: string;
  sentence: string;
  /** Reload after this many seconds (the port may appear, the box may wake). */
  refreshSeconds?: number;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function sendPreviewPage(res: ServerResponse, page: PreviewPage): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const refresh = page.refreshSeconds ? `<meta http-equiv="refresh" content="${page.refreshSeconds}">` : '';
  const body = `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(page.title)}</title>${refresh}</head><body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto"><h1>${escapeHtml(page.title)}</h1><p>${escapeHtml(page.sentence)}</p></body></html>`;
  res.writeHead(page.status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    ...(res.hasHeader('content-security-policy') ? {} : { 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'" }),
    ...(page.refreshSeconds ? { refresh: String(page.refreshSeconds) } : {}),
  });
  res.end(body);
}

/** Unknown box, unknown port, or not theirs: one answer, so names cannot be probed. */
export const notFoundPage: PreviewPage = {
  status: 404,
  title: 'Preview not found',
  sentence: 'No such box or port, or you may not open it. Check the address, or ask the box owner to share the port.',
};

export const nobodyListensPage = (box: string, port: number): PreviewPage => ({
  status: 502,
  title: `Nobody listens on port ${port}`,
  sentence: `Nothing on ${box} accepts connections on port ${port} yet. Start the app there; this page checks again every 2 seconds.`,
  refreshSeconds: 2,
});

export const wakingPage = (box: string, state: string): PreviewPage => ({
  status: 503,
  title: `Waking ${box}`,
  sentence: `${box} was ${state}; it is being woken now. This page reloads every 2 seconds and shows the app once the box answers.`,
  refreshSeconds: 2,
});

export const timeoutPage = (box: string, port: number, ms: number): PreviewPage => ({
  status: 504,
  title: 'The app did not answer',
  sentence: `The app on port ${port} of ${box} did not start answering within ${Math.round(ms / 1000)} s. Check that it is not stuck, then reload.`,
});

export const tooLargePage = (maxBytes: number): PreviewPage => ({
  status: 413,
  title: 'Request too large',
  sentence: `A request body sent to a preview is at most ${maxBytes >= 1024 * 1024 ? `${Math.floor(maxBytes / (1024 * 1024))} MiB` : `${Math.floor(maxBytes / 1024)} KiB`}; send less.`,
});

export const malformedHostPage = (domain: string): PreviewPage => ({
  status: 400,
  title: 'Not a preview address',
  sentence: `A preview address is PORT--BOX.${domain}, such as 3000--web-dev.${domain}.`,
});

export const malformedPathPage: PreviewPage = {
  status: 400,
  title: 'Not a preview address',
  sentence: 'A preview path is /preview/BOX/PORT/, such as /preview/web-dev/3000/.',
};

export const signInPage = (dashboard: string): PreviewPage => ({
  status: 401,
  title: 'Sign in first',
  sentence: `Open this preview from the dashboard (${dashboard}) after signing in; the link you followed has expired or was used already.`,
});

export const failedPage = (sentence: string): PreviewPage => ({ status: 502, title: 'The preview failed', sentence });

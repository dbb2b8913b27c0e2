/**
 * Where a preview lives: a box's port opened in the browser through the dashboard (server/previews). Two forms:
 *
 * - subdomain: `3000--web-dev.<BOXYARD_PREVIEW_DOMAIN>` (its own origin per box and port);
 * - path: `/preview/web-dev/3000/...` on the dashboard's origin, where no wildcard domain is set.
 *
 * Pure functions shared by the edge and the pages, so both spell a preview the same way.
 */

export const PREVIEW_PATH = '/preview';
/** The preview origin's own routes (the code exchange), under a prefix no app is likely to use. */
export const PREVIEW_REDEEM_PATH = '/__boxyard/preview-redeem';
/** The dashboard route that starts the exchange for a signed-in user. */
export const PREVIEW_OPEN_PATH = '/api/preview/open';
/** The preview origin's cookie; named under the dashboard's prefix so "drop every boxyard.* cookie" covers it. */
export const PREVIEW_COOKIE = 'boxyard.preview';

export interface PreviewTarget {
  box: string;
  port: number;
}

const BOX_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function portOf(text: string): number | null {
  if (!/^[1-9]\d{0,4}$/.test(text)) return null;
  const port = Number(text);
  return port <= 65535 ? port : null;
}

/** The hostname of a Host header, lowercased, without its port (`[::1]:80` -> `[::1]`). */
export function hostnameOf(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/**
 * What a Host header under the preview domain asks for: null when the host is not under the domain at all (the
 * dashboard's), 'malformed' when it is but does not name a port and a box (`3000--web-dev.<domain>`).
 */
export function parsePreviewHost(host: string, domain: string): PreviewTarget | 'malformed' | null {
  const hostname = hostnameOf(host);
  const suffix = `.${domain.toLowerCase()}`;
  if (!hostname.endsWith(suffix)) return null;
  const label = hostname.slice(0, -suffix.length);
  const match = /^(\d{1,5})--([a-z0-9-]{1,63})$/.exec(label);
  if (!match) return 'malformed';
  const port = portOf(match[1]!);
  if (port === null || !BOX_NAME.test(match[2]!)) return 'malformed';
  return { port, box: match[2]! };
}

/**
 * `/preview/<box>/<port>/~<key>/rest` -> the target, the preview's key (its credential in the path form, see
 * server/http/preview-route.ts; null before the exchange) and the path the app gets (`/rest`); null when not a
 * preview path. `prefix` is everything before the app's path, key included: the app's relative URLs keep it.
 */
export function parsePreviewPath(pathname: string): (PreviewTarget & { prefix: string; key: string | null; rest: string }) | 'malformed' | null {
  if (pathname !== PREVIEW_PATH && !pathname.startsWith(`${PREVIEW_PATH}/`)) return null;
  const match = /^\/preview\/([^/]+)\/([^/]+)(?:\/~([A-Za-z0-9_.-]{1,1024}))?(\/.*)?$/.exec(pathname);
  if (!match) return 'malformed';
  const port = portOf(match[2]!);
  if (port === null || !BOX_NAME.test(match[1]!)) return 'malformed';
  const base = `${PREVIEW_PATH}/${match[1]}/${match[2]}`;
  const key = match[3] ?? null;
  return { box: match[1]!, port, key, prefix: key ? `${base}/~${key}` : base, rest: match[4] ?? '/' };
}

/** The subdomain form's host (without port) for a box's port. */
export function previewHostname(target: PreviewTarget, domain: string): string {
  return `${target.port}--${target.box}.${domain}`;
}

export function previewPathPrefix(target: PreviewTarget): string {
  return `${PREVIEW_PATH}/${target.box}/${target.port}`;
}

/** The dashboard's path that opens a preview: for a signed-in user, or with `link` (a public share's token) for anyone. */
export function previewOpenPath(target: PreviewTarget, link?: string): string {
  return `${PREVIEW_OPEN_PATH}?${new URLSearchParams({ box: target.box, port: String(target.port), ...(link ? { link } : {}) })}`;
}

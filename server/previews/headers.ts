import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * What passes between the browser and the app: the request's headers without the dashboard's credentials and
 * without hop-by-hop headers, plus the forwarding headers; the response's headers with the app's cookies kept on
 * the preview's own origin (or path).
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** better-auth's cookies and the preview's own are all named `boxyard.*` (`__Secure-boxyard.*` over TLS). */
export function isDashboardCookie(name: string): boolean {
  return /^(__Secure-|__Host-)?boxyard\./.test(name.trim());
}

/** A Cookie header without any of the dashboard's cookies; undefined when none is left. */
export function withoutDashboardCookies(cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  const kept = cookie.split(';').filter((pair) => pair.trim() && !isDashboardCookie(pair.split('=')[0]!));
  return kept.length ? kept.map((pair) => pair.trim()).join('; ') : undefined;
}

export interface Forwarding {
  /** The browser's address, as the edge resolved it. */
  clientAddress: string;
  /** http or https, as the browser reached the dashboard. */
  proto: string;
  /** The Host the browser sent. */
  host: string;
  /** The path form's prefix (`/preview/web-dev/3000/~key`), sent as X-Forwarded-Prefix; redirects are moved under it. */
  prefix?: string;
  /** The path form's cookie path (`/preview/web-dev/3000`: without the key, which changes at every exchange). */
  cookiePath?: string;
}

export function requestHeadersForApp(headers: IncomingHttpHeaders, forwarding: Forwarding, options: { upgrade: boolean }): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connectionListed = new Set((String(headers.connection ?? '')).split(',').map((token) => token.trim().toLowerCase()));
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionListed.has(name) || name.startsWith('x-forwarded-') || name.startsWith('x-boxyard-')) continue;
    out[name] = value;
  }
  const cookie = withoutDashboardCookies(headers.cookie);
  if (cookie) out.cookie = cookie;
  else delete out.cookie;
  // The dashboard's API tokens are Bearer byd_...; an app's own Authorization (basic auth, its tokens) passes.
  if (/^Bearer\s+byd_/i.test(headers.authorization ?? '')) delete out.authorization;
  if (options.upgrade) {
    out.connection = 'Upgrade';
    out.upgrade = headers.upgrade;
  }
  out['x-forwarded-for'] = forwarding.clientAddress;
  out['x-forwarded-proto'] = forwarding.proto;
  out['x-forwarded-host'] = forwarding.host;
  if (forwarding.prefix) out['x-forwarded-prefix'] = forwarding.prefix;
  return out;
}

/**
 * One Set-Cookie of the app, made to stay on the preview: its Domain dropped (host-only: a cookie for the whole
 * preview domain would reach every other box's previews), in the path form its Path the whole preview's (`cookiePath`:
 * a Path under a key would be lost at the next exchange); null for a cookie named like the dashboard's, which the app
 * may not set or overwrite.
 */
export function appCookie(line: string, cookiePath: string | undefined): string | null {
  const [pair = '', ...attributes] = line.split(';');
  if (isDashboardCookie(pair.split('=')[0]!)) return null;
  let path = '/';
  const kept = attributes.filter((attribute) => {
    const name = attribute.split('=')[0]!.trim().toLowerCase();
    if (name === 'path') path = attribute.slice(attribute.indexOf('=') + 1).trim() || '/';
    return name !== 'domain' && name !== 'path';
  });
  const scopedPath = cookiePath ?? path;
  return [pair, ...kept.map((attribute) => attribute.trim()), `Path=${scopedPath}`].join('; ').replace(/^\s+/, '');
}

export function responseHeadersForBrowser(rawHeaders: string[], { prefix, cookiePath }: Pick<Forwarding, 'prefix' | 'cookiePath'>): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  const cookies: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (HOP_BY_HOP.has(name)) continue;
    if (name === 'set-cookie') {
      const cookie = appCookie(value, cookiePath);
      if (cookie) cookies.push(cookie);
      continue;
    }
    if (name === 'location' && prefix && value.startsWith('/') && !value.startsWith('//')) {
      out[name] = prefix + value;
      continue;
    }
    const existing = out[name];
    out[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  if (cookies.length) out['set-cookie'] = cookies;
  return out;
}

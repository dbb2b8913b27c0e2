import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SecurityHeaderOptions {
  /** The dashboard's public URL (BOXYARD_URL): its origin is the only one the pages' WebSockets connect to. */
  publicUrl: string;
  /** Next's development server: React's debugging needs eval there. */
  dev: boolean;
}

/** Browsers remember HTTPS-only for a year (the usual HSTS preload minimum). */
const HSTS_MAX_AGE_S = 365 * 24 * 60 * 60;

/**
 * The Content-Security-Policy of one response. Scripts: only those carrying this response's nonce (Next puts it on its
 * own scripts, read from the request's CSP header, see applySecurityHeaders) and what they load ('strict-dynamic'),
 * so an injected <script> or inline handler does not run. Styles may be inline: xterm.js writes its theme and
 * renderer styles into <style> elements it makes at run time, which cannot carry a nonce; CSS cannot run code.
 * connect-src: the page's own fetches and its WebSockets (terminals) to the dashboard's own origin only; listed by
 * scheme because older Safari does not count ws: as 'self'. Nothing may frame a page (clickjacking).
 */
export function contentSecurityPolicy(options: SecurityHeaderOptions, nonce: string): string {
  const origin = new URL(options.publicUrl);
  const tls = origin.protocol === 'https:';
  const socketOrigin = `${tls ? 'wss' : 'ws'}://${origin.host}`;
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${options.dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' blob: data:",
    "font-src 'self'",
    `connect-src 'self' ${socketOrigin}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(tls ? ['upgrade-insecure-requests'] : []),
  ].join('; ');
}

/**
 * Sets the security headers on every response the dashboard sends, pages and its own routes alike (the edge calls it
 * first for every request). HSTS only when browsers reach the dashboard over TLS, which BOXYARD_URL says: a TLS proxy
 * in front serves https and the cookies are then Secure; over plain http the header would be ignored or lock a
 * test setup out. The CSP is also put on the request, where Next reads its nonce for the scripts it renders.
 */
export function applySecurityHeaders(options: SecurityHeaderOptions, req: IncomingMessage, res: ServerResponse): void {
  const nonce = randomBytes(16).toString('base64');
  const policy = contentSecurityPolicy(options, nonce);
  req.headers['content-security-policy'] = policy;
  res.setHeader('Content-Security-Policy', policy);
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'strict-origin-when-cross-origin');
  if (new URL(options.publicUrl).protocol === 'https:') res.setHeader('Strict-Transport-Security', `max-age=${HSTS_MAX_AGE_S}; includeSubDomains`);
}

// The pure parts of previews: the env settings as start-up checks them, the two forms' addresses, and what the
// headers let through.
import { describe, expect, it } from 'vitest';
import { parsePreviewHost, parsePreviewPath } from '../../lib/preview';
import { loadEnv } from '../env';
import { appCookie, withoutDashboardCookies } from './headers';

const base = { BOXYARD_DATA_DIR: '/tmp/boxyard-previews-units' };
const problemsOf = (env: Record<string, string>) => {
  try {
    loadEnv({ ...base, ...env });
    return null;
  } catch (error) {
    return (error as Error).message;
  }
};

describe('preview settings at start-up', () => {
  it('a wildcard domain is a DNS name, lowercased; defaults for the body limit and the timeout', () => {
    const env = loadEnv({ ...base, BOXYARD_PREVIEW_DOMAIN: ' Preview.Example.COM ' });
    expect(env.BOXYARD_PREVIEW_DOMAIN).toBe('preview.example.com');
    expect(env.PREVIEW_MAX_BODY_BYTES).toBe(64 * 1024 * 1024);
    expect(env.PREVIEW_TIMEOUT_MS).toBe(30_000);
    expect(loadEnv(base).BOXYARD_PREVIEW_DOMAIN).toBeUndefined();
  });

  it.each(['*.preview.localhost', 'http://preview.localhost', 'preview.localhost:3000', 'preview..localhost', '-preview.localhost'])(
    'refuses %s with a sentence that says what to give',
    (domain) => {
      expect(problemsOf({ BOXYARD_PREVIEW_DOMAIN: domain })).toContain('BOXYARD_PREVIEW_DOMAIN: Give a DNS name whose subdomains reach this dashboard');
    },
  );

  it('refuses a preview domain the dashboard itself is under (previews would share its origin or cookies)', () => {
    for (const url of ['https://preview.example.com', 'https://dash.preview.example.com']) {
      expect(problemsOf({ BOXYARD_URL: url, BOXYARD_PREVIEW_DOMAIN: 'preview.example.com' })).toContain('must not be under the preview domain preview.example.com');
    }
    expect(problemsOf({ BOXYARD_URL: 'https://example.com', BOXYARD_PREVIEW_DOMAIN: 'preview.example.com' })).toBeNull();
  });

  it('refuses a body limit under 1 KiB and a timeout under 100 ms', () => {
    expect(problemsOf({ PREVIEW_MAX_BODY_BYTES: '10' })).toContain('PREVIEW_MAX_BODY_BYTES');
    expect(problemsOf({ PREVIEW_TIMEOUT_MS: '5' })).toContain('PREVIEW_TIMEOUT_MS');
  });
});

describe('preview addresses', () => {
  it('a host under the domain names a port and a box, or is malformed; any other host is not a preview', () => {
    expect(parsePreviewHost('3000--web-dev.preview.localhost:3212', 'preview.localhost')).toEqual({ port: 3000, box: 'web-dev' });
    expect(parsePreviewHost('3000--Web-Dev.PREVIEW.localhost', 'preview.localhost')).toEqual({ port: 3000, box: 'web-dev' });
    for (const host of ['web-dev.preview.localhost', '70000--web.preview.localhost', '0--web.preview.localhost', '3000--web-.preview.localhost', 'a.3000--web.preview.localhost']) {
      expect(parsePreviewHost(host, 'preview.localhost'), host).toBe('malformed');
    }
    expect(parsePreviewHost('127.0.0.1:3212', 'preview.localhost')).toBeNull();
    expect(parsePreviewHost('evilpreview.localhost', 'preview.localhost')).toBeNull();
  });

  it('a path names a box, a port and, after the exchange, a key; the app gets the rest', () => {
    expect(parsePreviewPath('/preview/web-dev/3000')).toEqual({ box: 'web-dev', port: 3000, key: null, prefix: '/preview/web-dev/3000', rest: '/' });
    expect(parsePreviewPath('/preview/web-dev/3000/~abc.DEF_-1/assets/app.js')).toEqual({ box: 'web-dev', port: 3000, key: 'abc.DEF_-1', prefix: '/preview/web-dev/3000/~abc.DEF_-1', rest: '/assets/app.js' });
    expect(parsePreviewPath('/preview/web-dev/3000/not~a-key')).toMatchObject({ key: null, rest: '/not~a-key' });
    for (const path of ['/preview', '/preview/web-dev', '/preview/web-dev/port/', '/preview/Web_Dev/3000/', '/preview/web-dev/99999/']) expect(parsePreviewPath(path), path).toBe('malformed');
    expect(parsePreviewPath('/previews/web-dev/3000/')).toBeNull();
  });
});

describe('what passes between the browser and the app', () => {
  it("the dashboard's cookies never reach the app; the app's own pass", () => {
    expect(withoutDashboardCookies('boxyard.session_token=s; theme=dark; __Secure-boxyard.session_token=t; boxyard.preview=p')).toBe('theme=dark');
    expect(withoutDashboardCookies('boxyard.session_token=s')).toBeUndefined();
  });

  it("an app's cookie loses its Domain, takes the path form's path, and may not be named like the dashboard's", () => {
    expect(appCookie('sid=1; Domain=preview.localhost; Path=/api; HttpOnly', undefined)).toBe('sid=1; HttpOnly; Path=/api');
    expect(appCookie('sid=1; Path=/api; SameSite=Lax', '/preview/web-dev/3000')).toBe('sid=1; SameSite=Lax; Path=/preview/web-dev/3000');
    expect(appCookie('boxyard.session_token=forged; Path=/', undefined)).toBeNull();
    expect(appCookie('__Secure-boxyard.session_token=forged; Path=/', undefined)).toBeNull();
  });
});

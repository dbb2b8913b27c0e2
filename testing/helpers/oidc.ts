// A real OpenID Connect provider for the single sign-on tests: `oidc-provider` in its own process on its own port
// (testing/fixtures/oidc/provider.ts), its users and groups in a state file the test changes between sign-ins, and
// a browser-less sign-in that walks the provider's own login and consent pages over HTTP with a cookie jar.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FixtureState, FixtureUser } from '../fixtures/oidc/provider';
import { freePort, REPO_DIR, startProcess, TSX } from './process';
import { until } from './wait';

export type { FixtureUser };

export const OIDC_CLIENT_ID = 'boxyard-dashboard';
export const OIDC_CLIENT_SECRET = 'boxyard-dashboard-client-secret';

export interface OidcProvider {
  issuer: string;
  port: number;
  /** Replaces the provider's users (read at each login). */
  setUsers(users: Record<string, FixtureUser>): void;
  /** Has the token endpoint spoil the ID tokens it returns from now on (or stop doing so). */
  setIdToken(mode: FixtureState['idToken']): void;
  /** The dashboard's environment for this provider (more OIDC_ variables may be added on top). */
  dashboardEnv(): Record<string, string>;
  stop(): Promise<void>;
}

/** Starts the provider for a dashboard at `dashboardUrl` (its callback registered as the one redirect URI). */
export async function startOidcProvider(dashboardUrl: string, users: Record<string, FixtureUser> = {}): Promise<OidcProvider> {
  const dir = mkdtempSync(path.join(tmpdir(), 'boxyard-oidc-'));
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const stateFile = path.join(dir, 'state.json');
  let state: FixtureState = { users, idToken: 'as-issued' };
  const writeState = () => writeFileSync(stateFile, JSON.stringify(state));
  writeState();
  const configFile = path.join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      port,
      issuer,
      stateFile,
      clients: [
        {
          client_id: OIDC_CLIENT_ID,
          client_secret: OIDC_CLIENT_SECRET,
          redirect_uris: [`${dashboardUrl}/api/auth/callback/oidc`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'client_secret_post',
        },
      ],
    }),
  );
  const child = startProcess(TSX, [path.join(REPO_DIR, 'testing/fixtures/oidc/provider.ts'), configFile]);
  await until(
    async () => {
      if (child.stdout().includes('listening')) return true;
      const ended = await Promise.race([child.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 0))]);
      if (ended) throw new Error(`the OIDC provider exited (${ended.code}):\n${ended.stderr}`);
      return false;
    },
    'the OIDC provider to listen',
  );
  return {
    issuer,
    port,
    setUsers(next) {
      state = { ...state, users: next };
      writeState();
    },
    setIdToken(mode) {
      state = { ...state, idToken: mode };
      writeState();
    },
    dashboardEnv: () => ({
      OIDC_ISSUER: issuer,
      OIDC_CLIENT_ID,
      OIDC_CLIENT_SECRET,
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_PROVIDER_NAME: 'Test IdP',
      OIDC_GROUPS_CLAIM: 'groups',
      OIDC_ADMIN_GROUP: 'boxyard-admins',
    }),
    async stop() {
      child.kill();
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Cookies by origin, as a browser keeps them (name=value only: every test host is 127.0.0.1 over HTTP). */
class CookieJar {
  private readonly byOrigin = new Map<string, Map<string, string>>();

  take(url: string, response: Response): void {
    const origin = new URL(url).origin;
    const cookies = this.byOrigin.get(origin) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1);
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') cookies.delete(name);
      else cookies.set(name, value);
    }
    this.byOrigin.set(origin, cookies);
  }

  header(url: string): string {
    return [...(this.byOrigin.get(new URL(url).origin) ?? new Map<string, string>())].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  get(url: string, name: string): string | undefined {
    return this.byOrigin.get(new URL(url).origin)?.get(name);
  }
}

export interface ProviderSignIn {
  /** Where the dashboard sent the browser at the end: "/" (or the page asked for) on success, "/login?error=..." if not. */
  landedOn: string;
  /** The `error` code of a landing on the sign-in page (/login?error=...), else null. */
  error: string | null;
  /** The dashboard's session cookie (`name=value`), when the sign-in made one. */
  sessionCookie: string | null;
  /** What the dashboard answered "Sign in with ..." itself, when it refused before the provider was asked. */
  refused: { status: number; message: string } | null;
}

/**
 * Signs in to the dashboard through the provider as a browser does, over HTTP: "Sign in with ..." (better-auth's
 * social sign-in), the provider's login page (any password), its consent page, and the callback.
 */
export async function signInThroughProvider(dashboardUrl: string, login: string, options: { userAgent?: string } = {}): Promise<ProviderSignIn> {
  const jar = new CookieJar();
  const origin = new URL(dashboardUrl).origin;
  const headersFor = (url: string, extra: Record<string, string> = {}) => ({ cookie: jar.header(url), 'user-agent': options.userAgent ?? 'boxyard-sso-test', ...extra });
  const call = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(url, { ...init, redirect: 'manual', headers: { ...headersFor(url), ...(init.headers as Record<string, string> | undefined) } });
    jar.take(url, response);
    return response;
  };

  const start = await call(`${dashboardUrl}/api/auth/sign-in/social`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ provider: 'oidc', callbackURL: '/', errorCallbackURL: '/login' }),
  });
  const started = (await start.json()) as { url?: string; message?: string };
  if (!start.ok || !started.url) return { landedOn: '', error: null, sessionCookie: null, refused: { status: start.status, message: started.message ?? '' } };

  // Follow redirects; at the provider's login and consent pages, submit their forms as a person would.
  let url = started.url;
  for (let hop = 0; hop < 20; hop++) {
    if (url.startsWith(origin) && !url.startsWith(`${origin}/api/auth/`)) {
      const sessionCookie = jar.get(dashboardUrl, 'boxyard.session_token');
      return { landedOn: url.slice(origin.length), error: new URL(url).searchParams.get('error'), sessionCookie: sessionCookie ? `boxyard.session_token=${sessionCookie}` : null, refused: null };
    }
    const response = await call(url);
    if (response.status >= 300 && response.status < 400) {
      url = new URL(response.headers.get('location')!, url).href;
      continue;
    }
    const page = await response.text();
    const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
    if (response.status !== 200 || !action) throw new Error(`unexpected page at ${url} (HTTP ${response.status}):\n${page.slice(0, 2000)}`);
    const fields: Record<string, string> = page.includes('name="login"') ? { prompt: 'login', login, password: 'any-password' } : { prompt: 'consent' };
    const submitted = await call(new URL(action.replace(/&amp;/g, '&'), url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    if (submitted.status < 300 || submitted.status >= 400) throw new Error(`the provider answered its own form at ${action} with HTTP ${submitted.status}:\n${(await submitted.text()).slice(0, 2000)}`);
    url = new URL(submitted.headers.get('location')!, url).href;
  }
  throw new Error('the sign-in did not come back to the dashboard within 20 redirects');
}

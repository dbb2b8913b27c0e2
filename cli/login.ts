import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { CLI_CLIENT_ID, CLI_LOGIN_TOKEN_PATH, cliLoginFailure, DEVICE_CODE_PATH, displayUserCode, type CliLoginPollError } from '../lib/cli-login';
import { defineCommand, UsageError } from './commands';
import { CliError, requestDashboard } from './connect';
import { credentialsFile, readCredentials, removeCredentials, saveCredentials, type Credentials } from './credentials';
import { print } from './output';

/**
 * `boxyard login URL`: the browser approves this machine (OAuth 2.0 device authorization, lib/cli-login.ts) and the
 * CLI keeps its own API token; `--token` checks a token made on the profile page instead. `boxyard logout` revokes the
 * saved token on the dashboard and forgets it. The login is saved by cli/credentials.ts (0600, XDG config folder).
 */


const deviceCodeResponse = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_uri_complete: z.string().min(1),
  expires_in: z.number().positive(),
  interval: z.number().int().nonnegative().optional(),
});
const tokenResponse = z.object({ access_token: z.string().startsWith('byd_'), email: z.string(), token_name: z.string() });
const meResponse = z.object({ user: z.object({ email: z.string() }), token: z.object({ name: z.string() }) });
const errorBody = z.object({ error: z.string(), error_description: z.string().optional() });

/** RFC 8628 section 3.5: the client waits 5 s when the server names no interval, and 5 s more after each slow_down. */
const DEFAULT_INTERVAL_S = 5;
const SLOW_DOWN_STEP_S = 5;

export interface Signed {
  token: string;
  email: string;
  tokenName: string;
}

/** The dashboard's base address as given, without trailing slashes; a UsageError for anything but an http(s) URL. */
export function dashboardUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    parsed = new URL('invalid:');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new UsageError(`${url} is not a URL; give the dashboard's address, e.g. https://boxyard.example.com`);
  }
  return url.replace(/\/+$/, '');
}

async function postJson(url: string, route: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const { response } = await requestDashboard(url, route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json().catch(() => null) };
}

/** The device flow: shows the code and its link, polls as RFC 8628 says, resolves with the new token once approved. */
export async function deviceLogin(url: string, machineName: string, say: (line: string) => void): Promise<Signed> {
  const started = await postJson(url, DEVICE_CODE_PATH, { client_id: CLI_CLIENT_ID, machine_name: machineName });
  const code = deviceCodeResponse.safeParse(started.json);
  if (!code.success) {
    const problem = errorBody.safeParse(started.json);
    throw new CliError(`the dashboard at ${url} did not start a login (HTTP ${started.status}${problem.success ? `: ${problem.data.error_description ?? problem.data.error}` : ''}; is it a Boxyard dashboard of this version?)`);
  }
  const { device_code, user_code, verification_uri_complete, expires_in } = code.data;
  say(`To sign in this machine (${machineName}), open this link and approve the code ${displayUserCode(user_code)}:`);
  say(`  ${verification_uri_complete}`);
  say(`Waiting for the approval (the code expires in ${Math.round(expires_in / 60)} minutes)...`);

  let intervalS = code.data.interval || DEFAULT_INTERVAL_S;
  for (;;) {
    await sleep(intervalS * 1000);
    const poll = await postJson(url, CLI_LOGIN_TOKEN_PATH, { device_code });
    const granted = tokenResponse.safeParse(poll.json);
    if (poll.status === 200 && granted.success) return { token: granted.data.access_token, email: granted.data.email, tokenName: granted.data.token_name };
    const refused = errorBody.safeParse(poll.json);
    const error = refused.success ? (refused.data.error as CliLoginPollError) : null;
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      intervalS += SLOW_DOWN_STEP_S;
      continue;
    }
    if (error === 'expired_token' || error === 'access_denied' || error === 'invalid_grant') throw new CliError(cliLoginFailure[error]);
    throw new CliError(`the dashboard answered HTTP ${poll.status}${refused.success ? `: ${refused.data.error_description ?? refused.data.error}` : ''} while waiting for the approval`);
  }
}

/** `--token`: the dashboard says whose token it is (and that it is valid) before it is saved. */
export async function checkToken(url: string, token: string): Promise<Signed> {
  const { response } = await requestDashboard(url, '/api/cli/me', { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  const body: unknown = await response.json().catch(() => null);
  const me = meResponse.safeParse(body);
  if (response.ok && me.success) return { token, email: me.data.user.email, tokenName: me.data.token.name };
  const message = (body as { error?: unknown } | null)?.error;
  if (response.status === 401) throw new CliError(`the dashboard refused the token: ${typeof message === 'string' ? message : 'unauthorized'}`);
  throw new CliError(`the dashboard answered HTTP ${response.status} (is ${url} a Boxyard dashboard of this version?)`);
}

export const loginCommand = defineCommand({
  name: 'login',
  usage: 'login URL [--token TOKEN]',
  summary: 'sign this machine in to the dashboard at URL (approved in the browser), for every other command',
  description: `Signs this machine in to the Boxyard dashboard at URL: it shows a code and a link; open the link, check the code and
approve it on the dashboard (signed in as you). The CLI then gets its own API token, named after this machine and
listed (and revocable) on your profile page, and saves it in ${credentialsShown()} (mode 0600). Other commands
then need no --url or --token. --token (for scripts) saves a token made on the profile page, after checking it.`,
  options: {
    token: { type: 'string', value: 'TOKEN', help: 'save this API token instead of approving in the browser' },
  },
  maxArguments: 1,
  async run(values, [url]) {
    if (!url) throw new UsageError('login needs the dashboard\'s URL, e.g. `boxyard login https://boxyard.example.com`');
    const dashboard = dashboardUrl(url);
    const signed = values.token ? await checkToken(dashboard, values.token) : await deviceLogin(dashboard, os.hostname(), print);
    const previous = await readCredentials();
    await saveCredentials({ url: dashboard, token: signed.token, email: signed.email });
    print(`Signed in to ${dashboard} as ${signed.email} (API token "${signed.tokenName}"), saved in ${credentialsFile()}.`);
    if (previous && previous.token !== signed.token) {
      print(`This replaces the login to ${previous.url}${previous.email ? ` as ${previous.email}` : ''}; its token stays valid until revoked on that dashboard's profile page.`);
    }
  },
});

export const logoutCommand = defineCommand({
  name: 'logout',
  usage: 'logout',
  summary: "revoke this machine's saved token on the dashboard and forget the login",
  description: `Revokes the API token \`boxyard login\` saved (on the dashboard it belongs to) and removes ${credentialsShown()}.
When the dashboard cannot be reached, the login is still removed here, and the token is left for you to revoke on
your profile page.`,
  options: {},
  async run() {
    const saved = await readCredentials();
    if (!saved) return print('Not signed in: nothing to do.');
    const outcome = await revokeSaved(saved);
    await removeCredentials();
    print(`Signed out of ${saved.url}: ${outcome}.`);
  },
});

/** What became of the saved token on its dashboard, as the end of a sentence. */
async function revokeSaved(saved: Credentials): Promise<string> {
  let response: Response;
  try {
    ({ response } = await requestDashboard(saved.url, '/api/cli/logout', { method: 'POST', headers: { authorization: `Bearer ${saved.token}` } }));
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    return `${error.message}, so its token is still valid: revoke it on your profile page there`;
  }
  const revoked = z.object({ revoked: z.object({ name: z.string() }) }).safeParse(await response.json().catch(() => null));
  if (response.ok && revoked.success) return `revoked the API token "${revoked.data.revoked.name}"`;
  if (response.status === 401) return 'the dashboard no longer accepted its token (revoked already, or unknown), so there was nothing to revoke';
  return `the dashboard answered HTTP ${response.status}, so its token may still be valid: revoke it on your profile page there`;
}

function credentialsShown(): string {
  return process.env.XDG_CONFIG_HOME ? '$XDG_CONFIG_HOME/boxyard/credentials.json' : '~/.config/boxyard/credentials.json';
}

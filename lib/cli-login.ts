/**
 * `boxyard login`: OAuth 2.0 device authorization (RFC 8628) through better-auth's deviceAuthorization plugin, shared
 * by the dashboard (server/auth/cli-login.ts, the /device page) and the CLI (cli/login.ts).
 *
 *   CLI     POST /api/auth/device/code  {client_id: CLI_CLIENT_ID, machine_name}   -> device_code, user_code, verification_uri_complete, interval
 *   user    opens /device?user_code=..., signed in, approves (or denies)
 *   CLI     POST /api/cli/login/token {device_code}, every `interval` s            -> 200 {access_token: "byd_...", email, token_name}
 *                                                                                    or 400 {error: CliLoginPollError, error_description}
 */

/** The only client the dashboard's device authorization serves. */
export const CLI_CLIENT_ID = 'boxyard-cli';

export const DEVICE_CODE_PATH = '/api/auth/device/code';
export const CLI_LOGIN_TOKEN_PATH = '/api/cli/login/token';
/** The dashboard page where a signed-in user approves a code. */
export const DEVICE_PAGE_PATH = '/device';

/** RFC 8628 section 3.5 errors of the token endpoint, plus invalid_grant for a code the dashboard does not know (or that was used). */
export type CliLoginPollError = 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied' | 'invalid_grant';

/** What the CLI tells the user when the login ended without a token, one sentence each. */
export const cliLoginFailure = {
  expired_token: 'The code expired before it was approved; run `boxyard login` again for a new one.',
  access_denied: 'The sign-in was denied on the dashboard; nothing was saved.',
  invalid_grant: 'The dashboard does not know this code (it was used already, or it expired long ago); run `boxyard login` again.',
} as const satisfies Partial<Record<CliLoginPollError, string>>;

/** The API token a CLI login makes, as the profile page lists it. */
export function cliTokenName(machineName: string): string {
  return `boxyard CLI on ${machineName}`;
}

/** better-auth's user codes are 8 letters and digits; typed by hand they may come with a dash, spaces or in lower case. */
export function normalizeUserCode(code: string): string {
  return code.replace(/[^a-zA-Z0-9]/g, '').toUpperCase();
}

/** ABCD-EFGH: how the CLI and the page show a code, so the user can compare them at a glance. */
export function displayUserCode(code: string): string {
  return code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
}

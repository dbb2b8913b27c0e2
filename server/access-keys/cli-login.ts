import { isAPIError } from 'better-auth/api';
import { cliTokenName, type CliLoginPollError } from '../../lib/cli-login';
import { recordAudit } from '../audit/audit';
import type { Auth } from '../auth/auth';
import type { Db } from '../db/client';
import { sessionUserOf } from '../boxes/access';
import { createApiToken } from './api-tokens';

/** The end of `boxyard login` (lib/cli-login.ts): an approved device code becomes the user's own API token. */

export type CliLoginResult =
  | { ok: true; token: string; tokenName: string; email: string }
  | { ok: false; error: CliLoginPollError; description: string };

/**
 * One poll of the CLI: an approved `deviceCode` becomes an API token of the user who approved it (the code is used
 * up); otherwise the RFC 8628 answer (pending, slow down, expired, denied). Audited with the caller's address.
 */
export async function redeemCliLogin(deps: { db: Db; auth: Auth }, deviceCode: string, address: string): Promise<CliLoginResult> {
  let redeemed: { userId: string; machineName: string };
  try {
    redeemed = await deps.auth.api.redeemCliDeviceCode({ body: { device_code: deviceCode } });
  } catch (error) {
    if (!isAPIError(error)) throw error;
    const body = error.body as { error?: string; error_description?: string } | undefined;
    if (!isPollError(body?.error)) throw error;
    return { ok: false, error: body.error, description: body.error_description ?? body.error };
  }
  const user = sessionUserOf(await deps.db.user.findUniqueOrThrow({ where: { id: redeemed.userId }, select: { id: true, email: true, name: true, role: true } }));
  const { token, apiToken } = await createApiToken(deps.db, user, cliTokenName(redeemed.machineName));
  await recordAudit(deps.db, {
    actor: user,
    action: 'cli.login',
    detail: { name: apiToken.name, prefix: apiToken.prefix, machine: redeemed.machineName, address },
    result: 'ok',
  });
  return { ok: true, token, tokenName: apiToken.name, email: user.email };
}

const POLL_ERRORS: readonly string[] = ['authorization_pending', 'slow_down', 'expired_token', 'access_denied', 'invalid_grant'] satisfies CliLoginPollError[];

function isPollError(error: string | undefined): error is CliLoginPollError {
  return error !== undefined && POLL_ERRORS.includes(error);
}

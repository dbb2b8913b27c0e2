import type { BetterAuthPlugin } from 'better-auth';
import { APIError, createAuthEndpoint, createAuthMiddleware, isAPIError } from 'better-auth/api';
import { deviceAuthorization, redeemDeviceCode, type DeviceAuthorizationGrant } from 'better-auth/plugins/device-authorization';
import { z } from 'zod';
import { CLI_CLIENT_ID, DEVICE_PAGE_PATH, normalizeUserCode } from '../../lib/cli-login';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';

/**
 * `boxyard login` (lib/cli-login.ts has the whole exchange): better-auth's deviceAuthorization plugin keeps the codes,
 * their approval and the RFC 8628 polling rules; this file adds what Boxyard needs on top of it.
 *
 * - The request carries the CLI's machine name (a "grant" field of the plugin, stored on the DeviceCode row), shown on
 *   the approval page and naming the token.
 * - An approved code is redeemed for the user's own API token (`byd_...`, listed and revocable on the profile page),
 *   never for a better-auth session: the plugin's session endpoint (/device/token) refuses the CLI's codes, and
 *   `redeemCliDeviceCode` is server-only, called by server/access-keys/cli-login.ts for POST /api/cli/login/token.
 * - Approvals and denials are audited.
 */

const machineName = z
  .string()
  .trim()
  .min(1, 'machine_name is the CLI machine\'s name (its hostname).')
  .max(64, 'machine_name is at most 64 characters.')
  .regex(/^[^\p{Cc}]+$/u, 'machine_name is one line of printable characters.');

// Typed with the plugin's defaults (its option does not take a narrower grant): machine_name is checked by requestSchemaFields.
const cliGrant: DeviceAuthorizationGrant = {
  requestSchemaFields: { machine_name: machineName },
  deviceCodeSchemaFields: { machineName: { type: 'string', required: false } },
  authorizeRequest({ request }) {
    if (request.client_id !== CLI_CLIENT_ID) {
      throw new APIError('BAD_REQUEST', { error: 'invalid_client', error_description: `This dashboard signs in only its own CLI (client_id ${CLI_CLIENT_ID}).` });
    }
    return { clientId: CLI_CLIENT_ID, deviceCodeFields: { machineName: request.machine_name } };
  },
  assertSessionRedemption() {
    throw new APIError('BAD_REQUEST', { error: 'invalid_grant', error_description: 'A CLI login is redeemed at POST /api/cli/login/token, for an API token.' });
  },
  getVerificationContext: (code) => ({ machine_name: typeof code.machineName === 'string' ? code.machineName : null }),
};

/** The plugins `createAuth` adds for `boxyard login`. */
export function cliLoginPlugins(options: { db: Db; publicUrl: string }) {
  const audited = createAuthMiddleware(async (ctx) => {
    if (isAPIError(ctx.context.returned)) return;
    const userCode = normalizeUserCode(String((ctx.body as { userCode?: unknown } | undefined)?.userCode ?? ''));
    const code = await options.db.deviceCode.findUnique({ where: { userCode }, select: { machineName: true, user: { select: { id: true, email: true } } } });
    if (!code?.user) return;
    await recordAudit(options.db, {
      actor: code.user,
      action: ctx.path === '/device/approve' ? 'cli.login.approve' : 'cli.login.deny',
      detail: { machine: code.machineName, code: userCode },
      result: 'ok',
    });
  });

  const redemption = {
    id: 'boxyard-cli-login',
    endpoints: {
      redeemCliDeviceCode: createAuthEndpoint.serverOnly({ method: 'POST', body: z.object({ device_code: z.string() }) }, async (ctx) => {
        const { claimedDeviceCode, user } = await redeemDeviceCode<{ machineName?: string | null }, undefined, undefined>({
          ctx,
          deviceCode: ctx.body.device_code,
          authorizeRedemption(code) {
            if (code.clientId !== CLI_CLIENT_ID) throw new APIError('BAD_REQUEST', { error: 'invalid_grant', error_description: 'This code is not a CLI login.' });
            return { ownershipWhere: { field: 'clientId', value: CLI_CLIENT_ID }, context: undefined };
          },
          prepareRedemption: () => undefined,
        });
        return ctx.json({ userId: user.id, machineName: claimedDeviceCode.machineName ?? 'an unnamed machine' });
      }),
    },
    hooks: { after: [{ matcher: (ctx) => ctx.path === '/device/approve' || ctx.path === '/device/deny', handler: audited }] },
  } satisfies BetterAuthPlugin;

  return [
    deviceAuthorization({ expiresIn: '15m', interval: '5s', verificationUri: new URL(DEVICE_PAGE_PATH, options.publicUrl).href, grant: cliGrant }),
    redemption,
  ] as const;
}

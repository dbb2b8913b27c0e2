import { recordAudit, type Actor } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError } from '../errors';

const KEY = 'auth.password-sign-in';

/** Whether email and password sign-in is on: it is unless an admin turned it off (a Setting row, shared by every process). */
export async function passwordSignInEnabled(db: Db): Promise<boolean> {
  const row = await db.setting.findUnique({ where: { key: KEY } });
  return row?.value !== 'off';
}

/**
 * Turns password sign-in on or off. Off only while single sign-on is configured, so that nobody is left without a way
 * in; `npx tsx scripts/password-sign-in-on.ts` turns it back on from the server's shell (README, "Single sign-on").
 */
export async function setPasswordSignIn(db: Db, actor: Actor, options: { enabled: boolean; ssoConfigured: boolean }): Promise<{ enabled: boolean }> {
  if (!options.enabled && !options.ssoConfigured) {
    throw new AppError('CONFLICT', 'Password sign-in can be turned off only once single sign-on is configured (OIDC_ISSUER and its client).');
  }
  const value = options.enabled ? 'on' : 'off';
  await db.setting.upsert({ where: { key: KEY }, create: { key: KEY, value }, update: { value } });
  await recordAudit(db, { actor, action: 'auth.password-signin', detail: { enabled: options.enabled }, result: 'ok' });
  return { enabled: options.enabled };
}

import type { BetterAuthPlugin } from 'better-auth';
import { createAuthMiddleware, isAPIError } from 'better-auth/api';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';

/**
 * After better-auth changed a user's own password (its /change-password route checked the current one): the
 * "choose a new password" requirement is met, and the change is audited. A refused change leaves both alone.
 */
export function passwordChangePlugin(options: { db: Db }) {
  const changed = createAuthMiddleware(async (ctx) => {
    if (isAPIError(ctx.context.returned)) return;
    const user = ctx.context.session?.user;
    if (!user) return;
    await options.db.user.update({ where: { id: user.id }, data: { mustChangePassword: false } });
    await recordAudit(options.db, { actor: { id: user.id, email: user.email }, action: 'user.password.change', detail: {}, result: 'ok' });
  });
  return {
    id: 'boxyard-password-change',
    hooks: { after: [{ matcher: (ctx) => ctx.path === '/change-password', handler: changed }] },
  } satisfies BetterAuthPlugin;
}

import { idInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { endAllSessionsOf } from '../auth/sessions';
import { createUser, createUserInput, deleteUser, listUsers, mustChangePassword, requireNewPassword, setRole, setRoleInput } from '../users/users';
import { adminProcedure, pendingPasswordProcedure, router } from './init';

export const usersRouter = router({
  /** The signed-in user, and whether they must choose a new password before anything else. */
  me: pendingPasswordProcedure.query(async ({ ctx }) => ({ ...ctx.user, mustChangePassword: await mustChangePassword(ctx.services.db, ctx.user.id) })),

  list: adminProcedure.query(({ ctx }) => listUsers(ctx.services.db)),

  create: adminProcedure.input(createUserInput).mutation(async ({ ctx, input }) => {
    const { requireNewPassword, ...fields } = input;
    const user = await createUser(ctx.services.db, { ...fields, mustChangePassword: requireNewPassword });
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.create', detail: { email: user.email, role: user.role, requireNewPassword }, result: 'ok' });
    return user;
  }),

  setRole: adminProcedure.input(setRoleInput).mutation(async ({ ctx, input }) => {
    const user = await setRole(ctx.services.db, input.id, input.role);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.role', detail: { email: user.email, role: user.role }, result: 'ok' });
    return user;
  }),

  /** The user chooses a new password at their next sign-in, before anything else. */
  requireNewPassword: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const user = await requireNewPassword(ctx.services.db, input.id);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.require-new-password', detail: { email: user.email }, result: 'ok' });
    return user;
  }),

  /** Every browser session and API token of the user ends; their terminals and tunnels close with them. */
  endAllSessions: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const ended = await endAllSessionsOf(ctx.services.db, ctx.user, input.id);
    await ctx.services.access.recheckNow();
    return ended;
  }),

  delete: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const user = await deleteUser(ctx.services.db, input.id, ctx.user.id);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.delete', detail: { email: user.email }, result: 'ok' });
    return { id: user.id };
  }),
});

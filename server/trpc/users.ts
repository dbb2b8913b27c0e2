import { idInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { endAllSessionsOf } from '../auth/sessions';
import { createUser, createUserInput, deleteUser, listUsers, setRole, setRoleInput } from '../users/users';
import { adminProcedure, authedProcedure, router } from './init';

export const usersRouter = router({
  me: authedProcedure.query(({ ctx }) => ctx.user),

  list: adminProcedure.query(({ ctx }) => listUsers(ctx.services.db)),

  create: adminProcedure.input(createUserInput).mutation(async ({ ctx, input }) => {
    const user = await createUser(ctx.services.db, input);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.create', detail: { email: user.email, role: user.role }, result: 'ok' });
    return user;
  }),

  setRole: adminProcedure.input(setRoleInput).mutation(async ({ ctx, input }) => {
    const user = await setRole(ctx.services.db, input.id, input.role);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.role', detail: { email: user.email, role: user.role }, result: 'ok' });
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

import { z } from 'zod';
import { displayName, email, password } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { roles } from '../auth/auth';
import { createUser, deleteUser, listUsers, setRole } from '../users/users';
import { adminProcedure, authedProcedure, router } from './init';

export const usersRouter = router({
  me: authedProcedure.query(({ ctx }) => ctx.user),

  list: adminProcedure.query(({ ctx }) => listUsers(ctx.services.db)),

  create: adminProcedure
    .input(z.object({ email, name: displayName, password, role: z.enum(roles) }))
    .mutation(async ({ ctx, input }) => {
      const user = await createUser(ctx.services.db, input);
      await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.create', detail: { email: user.email, role: user.role }, result: 'ok' });
      return user;
    }),

  setRole: adminProcedure.input(z.object({ id: z.string().min(1), role: z.enum(roles) })).mutation(async ({ ctx, input }) => {
    const user = await setRole(ctx.services.db, input.id, input.role);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.role', detail: { email: user.email, role: user.role }, result: 'ok' });
    return user;
  }),

  delete: adminProcedure.input(z.object({ id: z.string().min(1) })).mutation(async ({ ctx, input }) => {
    const user = await deleteUser(ctx.services.db, input.id, ctx.user.id);
    await recordAudit(ctx.services.db, { actor: ctx.user, action: 'user.delete', detail: { email: user.email }, result: 'ok' });
    return { id: user.id };
  }),
});

import { idInput, saveGroupInput } from '../../lib/validation';
import { createGroup, createGroupInput, deleteGroup, listGroups, saveGroup } from '../groups/groups';
import { adminProcedure, router } from './init';

/** Admins: the groups (the provider's and their own), what each reaches, and an admin's groups' members. */
export const groupsRouter = router({
  list: adminProcedure.query(({ ctx }) => listGroups(ctx.services.db)),
  create: adminProcedure.input(createGroupInput).mutation(({ ctx, input }) => createGroup(ctx.services.db, ctx.user, input.name)),
  save: adminProcedure.input(saveGroupInput).mutation(async ({ ctx, input }) => {
    const saved = await saveGroup(ctx.services.db, ctx.user, input);
    await ctx.services.access.recheckNow(); // what a member no longer reaches closes now, not at the next round
    return saved;
  }),
  delete: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const deleted = await deleteGroup(ctx.services.db, ctx.user, input.id);
    await ctx.services.access.recheckNow();
    return deleted;
  }),
});

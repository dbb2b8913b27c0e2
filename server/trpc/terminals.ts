import { z } from 'zod';
import { authedProcedure, router } from './init';

/** Open browser terminals; the sessions themselves live in server/terminals (TerminalManager). */
export const terminalsRouter = router({
  /** Admins see every open terminal; a developer sees their own. */
  list: authedProcedure.query(({ ctx }) => ctx.services.terminals.list(ctx.user)),

  /** Ends a terminal (admin: any; developer: their own). Audited as terminal.close with the closer as actor. */
  close: authedProcedure.input(z.object({ id: z.uuid() })).mutation(async ({ ctx, input }) => {
    await ctx.services.terminals.close(input.id, ctx.user);
    return { id: input.id };
  }),
});

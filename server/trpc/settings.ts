import { authedProcedure, router } from './init';

export const settingsRouter = router({
  /** The key to put in a box's ~/.ssh/authorized_keys so the dashboard can reach it. */
  dashboardPublicKey: authedProcedure.query(({ ctx }) => ({ publicKey: ctx.services.dashboardPublicKey })),
});

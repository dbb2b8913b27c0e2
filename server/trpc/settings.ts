import { authedProcedure, publicProcedure, router } from './init';

export const settingsRouter = router({
  /** The key to put in a box's ~/.ssh/authorized_keys so the dashboard can reach it. */
  dashboardPublicKey: authedProcedure.query(({ ctx }) => ({ publicKey: ctx.services.dashboardPublicKey })),

  /** BOXYARD_URL's origin (not a secret): sign-in and terminals accept only it, so the browser warns when opened elsewhere. */
  publicOrigin: publicProcedure.query(({ ctx }) => ({ origin: new URL(ctx.services.env.publicUrl).origin })),
});

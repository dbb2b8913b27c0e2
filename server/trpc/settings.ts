import { cliInstallCommand } from '../../lib/cli-distribution';
import { authorizeKeyCommand, firstRunState } from '../settings/first-run';
import { adminProcedure, authedProcedure, publicProcedure, router } from './init';

export const settingsRouter = router({
  /** The key to put in a box's ~/.ssh/authorized_keys so the dashboard can reach it. */
  dashboardPublicKey: authedProcedure.query(({ ctx }) => ({ publicKey: ctx.services.dashboardPublicKey })),

  /** The first-run checklist of the fleet page: which steps are done, and the lines its steps ask to paste. */
  firstRun: adminProcedure.query(async ({ ctx }) => {
    const { db, dashboardPublicKey, env } = ctx.services;
    return {
      ...(await firstRunState(db, ctx.user)),
      dashboardPublicKey,
      authorizeCommand: authorizeKeyCommand(dashboardPublicKey),
      cliInstallCommand: cliInstallCommand(env.publicUrl),
    };
  }),

  /** BOXYARD_URL's origin (not a secret): sign-in and terminals accept only it, so the browser warns when opened elsewhere. */
  publicOrigin: publicProcedure.query(({ ctx }) => ({ origin: new URL(ctx.services.env.publicUrl).origin })),
});

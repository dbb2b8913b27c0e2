import { z } from 'zod';
import { passwordSignInEnabled, setPasswordSignIn } from '../auth/password-sign-in';
import { adminProcedure, publicProcedure, router } from './init';

export const signInRouter = router({
  /** What the sign-in page offers: "Sign in with <provider>" when single sign-on is configured, and the password form unless it is off. */
  options: publicProcedure.query(async ({ ctx }) => ({
    provider: ctx.services.env.oidc ? { id: 'oidc' as const, name: ctx.services.env.oidc.providerName } : null,
    password: await passwordSignInEnabled(ctx.services.db),
  })),

  setPassword: adminProcedure
    .input(z.object({ enabled: z.boolean() }))
    .mutation(({ ctx, input }) => setPasswordSignIn(ctx.services.db, ctx.user, { enabled: input.enabled, ssoConfigured: ctx.services.env.oidc !== null })),
});

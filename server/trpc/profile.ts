import { idInput } from '../../lib/validation';
import { createApiToken, createApiTokenInput, listApiTokens, revokeApiToken } from '../access-keys/api-tokens';
import { addSshKey, listSshKeys, removeSshKey, sshKeyInput } from '../access-keys/ssh-keys';
import { recordAudit } from '../audit/audit';
import { endSession, listSessions } from '../auth/sessions';
import { cliConnectCommand } from '../connect/snippets';
import { authedProcedure, router } from './init';

/** The signed-in user's own SSH public keys, API tokens and browser sessions; nobody, admins included, sees another user's here. */
export const profileRouter = router({
  sessions: router({
    list: authedProcedure.query(({ ctx }) => listSessions(ctx.services.db, ctx.user.id)),

    /** Ends one of the caller's sessions; its terminals and tunnels close with it. */
    end: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
      const ended = await endSession(ctx.services.db, ctx.user, input.id);
      await ctx.services.access.recheckNow();
      return ended;
    }),
  }),

  keys: router({
    list: authedProcedure.query(({ ctx }) => listSshKeys(ctx.services.db, ctx.user.id)),

    add: authedProcedure.input(sshKeyInput).mutation(async ({ ctx, input }) => {
      const key = await addSshKey(ctx.services.db, ctx.user, input);
      await recordAudit(ctx.services.db, { actor: ctx.user, action: 'profile.key.add', detail: { name: key.name, fingerprint: key.fingerprint }, result: 'ok' });
      return key;
    }),

    remove: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
      const key = await removeSshKey(ctx.services.db, ctx.user, input.id);
      await recordAudit(ctx.services.db, { actor: ctx.user, action: 'profile.key.remove', detail: { name: key.name, fingerprint: key.fingerprint }, result: 'ok' });
      return { id: key.id };
    }),
  }),

  tokens: router({
    list: authedProcedure.query(({ ctx }) => listApiTokens(ctx.services.db, ctx.user.id)),

    /** Returns the token itself (and the CLI command using it) this once; only its hash is kept. */
    create: authedProcedure.input(createApiTokenInput).mutation(async ({ ctx, input }) => {
      const created = await createApiToken(ctx.services.db, ctx.user, input.name);
      await recordAudit(ctx.services.db, {
        actor: ctx.user,
        action: 'profile.token.create',
        detail: { name: created.apiToken.name, prefix: created.apiToken.prefix },
        result: 'ok',
      });
      return { ...created, cliCommand: cliConnectCommand(ctx.services.env.publicUrl, created.token) };
    }),

    revoke: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
      const token = await revokeApiToken(ctx.services.db, ctx.user, input.id);
      await recordAudit(ctx.services.db, { actor: ctx.user, action: 'profile.token.revoke', detail: { name: token.name, prefix: token.prefix }, result: 'ok' });
      return token;
    }),
  }),
});

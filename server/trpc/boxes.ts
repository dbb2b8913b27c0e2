import { createBoxInput, idInput, updateBoxInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { boxFilterInput, createBox, deleteBox, getBox, listBoxes, listFleet, updateBox } from '../boxes/boxes';
import { listContainersCommand, parseContainerListing } from '../boxes/containers';
import { repinHostKey, repinInput } from '../boxes/hostkey-pin';
import { adminProcedure, authedProcedure, boxProcedure, router } from './init';

export const boxesRouter = router({
  list: authedProcedure
    .input(boxFilterInput.optional())
    .query(({ ctx, input }) => listBoxes(ctx.services.db, ctx.user, input)),

  /** The fleet table's rows (fewer columns than `list`): the fleet page polls it. */
  fleet: authedProcedure.query(({ ctx }) => listFleet(ctx.services.db, ctx.user)),

  get: authedProcedure.input(idInput).query(({ ctx, input }) => getBox(ctx.services.db, ctx.user, input.id)),

  /** Saves the box first (nothing is lost if it cannot be reached), then connects and gathers facts. */
  create: adminProcedure.input(createBoxInput).mutation(async ({ ctx, input }) => {
    const { db, secrets, remote } = ctx.services;
    const box = await createBox(db, secrets, ctx.user, input);
    await recordAudit(db, { actor: ctx.user, action: 'box.create', box, detail: { host: box.host, port: box.port, sshUser: box.sshUser, authMethod: box.authMethod }, result: 'ok' });
    await remote.refreshFacts(box.id, ctx.user).catch(() => undefined); // the box's status records why
    return getBox(db, ctx.user, box.id);
  }),

  update: adminProcedure.input(updateBoxInput).mutation(async ({ ctx, input }) => {
    const { db, secrets, remote, access } = ctx.services;
    const before = await getBox(db, ctx.user, input.id);
    const box = await updateBox(db, secrets, ctx.user, input);
    // Members or owner changed: what they lost ends now, with that reason.
    await access.recheckNow();
    // The pooled connection (and every terminal on it) was made with the old address, user or credentials; an edit of
    // the name, tags or notes leaves it, and the people working on the box, alone.
    if (input.auth || box.host !== before.host || box.port !== before.port || box.sshUser !== before.sshUser) await remote.forget(box.id);
    const { auth, ...changed } = input;
    await recordAudit(db, { actor: ctx.user, action: 'box.update', box, detail: { ...changed, auth: auth ? { method: auth.method } : undefined }, result: 'ok' });
    return box;
  }),

  delete: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const { db, remote, access } = ctx.services;
    const box = await deleteBox(db, ctx.user, input.id);
    // Its terminals and tunnels end saying the box was deleted, before its connection goes.
    await access.recheckNow();
    await remote.forget(box.id);
    await recordAudit(db, { actor: ctx.user, action: 'box.delete', box, result: 'ok' });
    return { id: box.id };
  }),

  /** Reconnects and gathers facts now. Any user who may reach the box may ask. */
  refresh: boxProcedure('id').mutation(async ({ ctx }) => {
    const { db, remote } = ctx.services;
    await remote.refreshFacts(ctx.box.id, ctx.user);
    return getBox(db, ctx.user, ctx.box.id);
  }),

  /** Containers on the box (`docker ps -a` over SSH), or why there are none to show. */
  containers: boxProcedure('id').query(async ({ ctx }) => {
    const result = await ctx.services.remote.exec(ctx.box.id, listContainersCommand, { actor: ctx.user, purpose: 'containers', timeoutMs: 20_000 });
    return parseContainerListing(result);
  }),

  /** Trusts the host key the box now offers, which the admin compared out of band. */
  repin: adminProcedure
    .input(repinInput)
    .mutation(async ({ ctx, input }) => {
      const { db, remote } = ctx.services;
      const box = await repinHostKey(db, ctx.user, input.id, input.fingerprint);
      await remote.forget(box.id);
      await remote.refreshFacts(box.id, ctx.user).catch(() => undefined);
      return getBox(db, ctx.user, box.id);
    }),
});

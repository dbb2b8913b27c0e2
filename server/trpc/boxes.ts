import { z } from 'zod';
import { boxStatuses, createBoxInput, tag, updateBoxInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { createBox, deleteBox, getBox, getBoxRow, listBoxes, updateBox } from '../boxes/boxes';
import { listContainersCommand, parseContainerListing } from '../boxes/containers';
import { repinHostKey } from '../boxes/hostkey-pin';
import { adminProcedure, authedProcedure, router } from './init';

const byId = z.object({ id: z.string().min(1).max(64) });

export const boxesRouter = router({
  list: authedProcedure
    .input(z.object({ search: z.string().max(200).optional(), status: z.enum(boxStatuses).optional(), tag: tag.optional() }).optional())
    .query(({ ctx, input }) => listBoxes(ctx.services.db, ctx.user, input)),

  get: authedProcedure.input(byId).query(({ ctx, input }) => getBox(ctx.services.db, ctx.user, input.id)),

  /** Saves the box first (nothing is lost if it cannot be reached), then connects and gathers facts. */
  create: adminProcedure.input(createBoxInput).mutation(async ({ ctx, input }) => {
    const { db, secrets, remote } = ctx.services;
    const box = await createBox(db, secrets, ctx.user, input);
    await recordAudit(db, { actor: ctx.user, action: 'box.create', box, detail: { host: box.host, port: box.port, sshUser: box.sshUser, authMethod: box.authMethod }, result: 'ok' });
    await remote.refreshFacts(box.id, ctx.user).catch(() => undefined); // the box's status records why
    return getBox(db, ctx.user, box.id);
  }),

  update: adminProcedure.input(updateBoxInput).mutation(async ({ ctx, input }) => {
    const { db, secrets, remote } = ctx.services;
    const box = await updateBox(db, secrets, ctx.user, input);
    await remote.forget(box.id);
    const { auth, ...changed } = input;
    await recordAudit(db, { actor: ctx.user, action: 'box.update', box, detail: { ...changed, auth: auth ? { method: auth.method } : undefined }, result: 'ok' });
    return box;
  }),

  delete: adminProcedure.input(byId).mutation(async ({ ctx, input }) => {
    const { db, remote } = ctx.services;
    const box = await deleteBox(db, ctx.user, input.id);
    await remote.forget(box.id);
    await recordAudit(db, { actor: ctx.user, action: 'box.delete', box, result: 'ok' });
    return { id: box.id };
  }),

  /** Reconnects and gathers facts now. Any user who may reach the box may ask. */
  refresh: authedProcedure.input(byId).mutation(async ({ ctx, input }) => {
    const { db, remote } = ctx.services;
    await getBoxRow(db, ctx.user, input.id);
    await remote.refreshFacts(input.id, ctx.user);
    return getBox(db, ctx.user, input.id);
  }),

  /** Containers on the box (`docker ps -a` over SSH), or why there are none to show. */
  containers: authedProcedure.input(byId).query(async ({ ctx, input }) => {
    const { db, remote } = ctx.services;
    await getBoxRow(db, ctx.user, input.id);
    const result = await remote.exec(input.id, listContainersCommand, { actor: ctx.user, purpose: 'containers', timeoutMs: 20_000 });
    return parseContainerListing(result);
  }),

  /** Trusts the host key the box now offers, which the admin compared out of band. */
  repin: adminProcedure
    .input(byId.extend({ fingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'A fingerprint looks like SHA256: followed by 43 characters.') }))
    .mutation(async ({ ctx, input }) => {
      const { db, remote } = ctx.services;
      const box = await repinHostKey(db, ctx.user, input.id, input.fingerprint);
      await remote.forget(box.id);
      await remote.refreshFacts(box.id, ctx.user).catch(() => undefined);
      return getBox(db, ctx.user, box.id);
    }),
});

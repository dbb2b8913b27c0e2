import { createHostInput, idInput, setShareRootsInput } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import { createHost, deleteHost, getHost, listHosts } from '../hosts/hosts';
import { setShareRoots } from '../hosts/share-roots';
import { adminProcedure, router } from './init';

/** Hypervisor hosts: admins only (developers do not see hosts at all). */
export const hostsRouter = router({
  list: adminProcedure.query(({ ctx }) => listHosts(ctx.services.db)),

  get: adminProcedure.input(idInput).query(({ ctx, input }) => getHost(ctx.services.db, input.id)),

  /** Saves the host first (nothing is lost if it cannot be reached or lacks the tool), then detects the version. */
  create: adminProcedure.input(createHostInput).mutation(async ({ ctx, input }) => {
    const { db, secrets } = ctx.services;
    const host = await createHost(db, secrets, input);
    await recordAudit(db, {
      actor: ctx.user,
      action: 'host.create',
      detail: { hostId: host.id, hostName: host.name, kind: host.kind, host: host.host, port: host.port, sshUser: host.sshUser, authMethod: host.authMethod },
      result: 'ok',
    });
    await ctx.services.hostRemote.detectVersion(host.id, ctx.user).catch(() => undefined); // lastError records why
    return getHost(db, host.id);
  }),

  delete: adminProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const { db, hostRemote } = ctx.services;
    const host = await deleteHost(db, input.id);
    await hostRemote.forget(host.id);
    await recordAudit(db, { actor: ctx.user, action: 'host.delete', detail: { hostId: host.id, hostName: host.name }, result: 'ok' });
    return { id: host.id };
  }),

  /** Which of the host's folders box owners may share into their VMs (globs such as /Users/<name>/src); audited. */
  setShareRoots: adminProcedure.input(setShareRootsInput).mutation(async ({ ctx, input }) => {
    await setShareRoots(ctx.services.db, ctx.user, input.id, input.roots);
    return getHost(ctx.services.db, input.id);
  }),

  /** The host's VMs and their state, or the driver's plain error (e.g. the tool is not installed). */
  vms: adminProcedure.input(idInput).query(({ ctx, input }) => ctx.services.hostRemote.listVms(input.id, ctx.user)),
});

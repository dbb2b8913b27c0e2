import { boxIdInput } from '../../lib/validation';
import {
  applyMounts,
  exportPolicy,
  getMounts,
  importPolicy,
  importPolicyInput,
  measureInput,
  measureMounts,
  previewInput,
  previewPolicy,
  savePolicy,
  savePolicyInput,
  writeBackNow,
} from '../mounts/mounts';
import { authedProcedure, router } from './init';

/** Mount consistency (server/mounts): thin; seeing follows box access, changing needs an admin or the box's owner. */
export const mountsRouter = router({
  get: authedProcedure.input(boxIdInput).query(({ ctx, input }) => getMounts(ctx.services.db, ctx.user, input.boxId)),
  save: authedProcedure.input(savePolicyInput).mutation(({ ctx, input }) => savePolicy(ctx.services.db, ctx.user, input.boxId, input.mounts)),
  preview: authedProcedure.input(previewInput).query(({ input }) => previewPolicy(input.mounts)),
  importYaml: authedProcedure.input(importPolicyInput).mutation(({ ctx, input }) => importPolicy(ctx.services.db, ctx.user, input.boxId, input.yaml)),
  exportYaml: authedProcedure.input(boxIdInput).query(({ ctx, input }) => exportPolicy(ctx.services.db, ctx.user, input.boxId)),
  applyPolicy: authedProcedure.input(boxIdInput).mutation(({ ctx, input }) => applyMounts(ctx.services, ctx.user, input.boxId)),
  measure: authedProcedure.input(measureInput).mutation(({ ctx, input }) => measureMounts(ctx.services, ctx.user, input)),
  writeBack: authedProcedure.input(boxIdInput).mutation(({ ctx, input }) => writeBackNow(ctx.services, ctx.user, input.boxId)),
});

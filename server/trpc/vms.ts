import { boxIdInput, hostIdInput } from '../../lib/validation';
import { newBoxFromTemplate, newBoxFromTemplateInput } from '../vms/from-template';
import { importVmAsBox, importVmInput } from '../vms/import-vm';
import { boxVmAction, boxVmActionInput, hostVmAction, hostVmActionInput } from '../vms/lifecycle';
import { boxVmStatus, hostVms } from '../vms/views';
import { boxPower, boxPowerInput } from '../vms/vps-power';
import { adminProcedure, authedProcedure, router } from './init';

/** VM lifecycle (each action a job: follow it with jobs.get / jobs.logs), import as a box, new box from a template. */
export const vmsRouter = router({
  /** The host's VMs with the actions their state allows and the job under way on each. */
  onHost: adminProcedure.input(hostIdInput).query(({ ctx, input }) => hostVms(ctx.services, ctx.user, input.hostId)),

  hostAction: adminProcedure.input(hostVmActionInput).mutation(({ ctx, input }) => hostVmAction(ctx.services, ctx.user, input)),

  /** The VM card of a box page; null when the box is not a VM. */
  ofBox: authedProcedure.input(boxIdInput).query(({ ctx, input }) => boxVmStatus(ctx.services, ctx.user, input.boxId)),

  boxAction: authedProcedure.input(boxVmActionInput).mutation(({ ctx, input }) => boxVmAction(ctx.services, ctx.user, input)),

  import: adminProcedure.input(importVmInput).mutation(({ ctx, input }) => importVmAsBox(ctx.services, ctx.user, input)),

  fromTemplate: adminProcedure.input(newBoxFromTemplateInput).mutation(({ ctx, input }) => newBoxFromTemplate(ctx.services, ctx.user, input)),

  /** Plain SSH boxes (VPS): reboot or power off from inside, confirmed by typing the box's name. */
  power: authedProcedure.input(boxPowerInput).mutation(({ ctx, input }) => boxPower(ctx.services, ctx.user, input)),
});

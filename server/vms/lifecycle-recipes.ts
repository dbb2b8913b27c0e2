import { z } from 'zod';
import { recordStatus } from '../boxes/boxes';
import { hostOf, probeStep, StepFailed, type Recipe, type Step, type StepContext } from '../jobs/recipe';
import type { VmInfo, VmRef } from '../hypervisors/driver';
import { describeState } from '../hypervisors/common';
import { actionRules, DEFAULT_STOP_TIMEOUT_SECONDS, lifecycleKind, refusal, vmActions, type VmAction } from './rules';
import { delegatedWriteBackStep } from '../mounts/apply-recipe';
import { earlierVmJob, findVm, jobDriver, vmJobKey, waitForBoxSsh } from './steps';

/**
 * One recipe per lifecycle action (vm.start, vm.stop, ...). A job runs on the VM's host, and on its box too when
 * the VM is one. Every step looks first: a VM already in the wanted state is success, a state that does not allow
 * the action is a plain failure, and a VM deleted on the host is named as such.
 */

export const vmActionParams = z.object({
  /** Also stored in Job.vmId (vmIdOf below), which is how jobs on one VM are found (steps.ts). */
  vmId: z.string().min(1).max(200),
  vmName: z.string().min(1).max(200),
  /** stop: how long the guest gets to shut down by itself before it is powered off. */
  stopTimeoutSeconds: z.number().int().min(2).max(3600).default(DEFAULT_STOP_TIMEOUT_SECONDS),
  /** start/resume/restart of a box: also wait until the box answers SSH. */
  waitForSsh: z.boolean().default(false),
  sshTimeoutSeconds: z.number().int().min(5).max(1800).default(180),
  /** Why (e.g. "idle for 30 min"), kept in the job's params and its audit entry. */
  reason: z.string().max(500).default(''),
});
export type VmActionParams = z.output<typeof vmActionParams>;
type Ctx = StepContext<VmActionParams, object>;
type VmStep = Step<VmActionParams, object>;

const vmOf = (ctx: Ctx): VmRef => ({ id: ctx.params.vmId, name: ctx.params.vmName });

/** Second line of defence behind the enqueue-time check: a job that lost the race for its VM does nothing. */
const oneAtATime: VmStep = probeStep('Check no other action is under way on the VM', async (ctx) => {
  const earlier = await earlierVmJob(ctx.db, hostOf(ctx).id, ctx.params.vmId, ctx.jobId);
  if (earlier) {
    throw new StepFailed(
      `${ctx.params.vmName} is busy with another job (${earlier.kind}, ${earlier.status}, by ${earlier.createdByEmail ?? 'the dashboard'}): this one was not run.`,
    );
  }
  if (ctx.params.reason) await ctx.log(`Reason: ${ctx.params.reason}`);
});

const stepNames: Record<VmAction, string> = {
  start: 'Start the VM',
  stop: 'Stop the VM (shut down, forced off after the timeout)',
  suspend: 'Suspend the VM (save its state)',
  resume: 'Resume the VM',
  restart: 'Restart the VM',
  pause: 'Pause the VM (in memory)',
};

/** Actions after which the box cannot answer SSH. */
const takesBoxDown: readonly VmAction[] = ['stop', 'suspend', 'pause'];

/**
 * Once its VM is stopped, saved or paused, the box is recorded as unreachable at once, not at the status poller's next
 * round: waking on demand (a terminal, a laptop's ssh) leaves a box it believes online alone, and would try it instead.
 */
async function recordBoxDown(ctx: Ctx, vm: VmInfo): Promise<void> {
  if (ctx.box) await recordStatus(ctx.db, ctx.box.id, 'unreachable', `${vm.name} is ${describeState(vm.state)}.`);
}

function actionStep(action: VmAction): VmStep {
  const rule = actionRules[action];
  return {
    name: stepNames[action],
    async check(ctx) {
      const vm = await findVm(ctx, jobDriver(ctx), vmOf(ctx));
      if (rule.done.includes(vm.state)) {
        await ctx.log(`${vm.name} is already ${describeState(vm.state)} (${vm.rawState}): nothing to do.`);
        if (takesBoxDown.includes(action)) await recordBoxDown(ctx, vm);
        return true;
      }
      const refused = refusal(action, vm.name, vm.state);
      if (refused) throw new StepFailed(refused);
      return false;
    },
    async apply(ctx) {
      const driver = jobDriver(ctx);
      const vm = vmOf(ctx);
      switch (action) {
        case 'start':
          return driver.start(vm);
        case 'stop': {
          const seconds = ctx.params.stopTimeoutSeconds;
          await ctx.log(`Asking the guest to shut down; it is powered off if it has not stopped after ${seconds} s.`);
          const { outcome } = await driver.stop(vm, { timeoutMs: seconds * 1000 });
          await ctx.log(
            outcome === 'graceful'
              ? `${vm.name} shut down by itself (graceful).`
              : `${vm.name} did not shut down within ${seconds} s: it was powered off (forced).`,
            outcome === 'graceful' ? 'info' : 'warn',
          );
          return;
        }
        case 'suspend':
          return driver.suspend(vm);
        case 'resume':
          return driver.resume(vm);
        case 'restart':
          return driver.restart(vm);
        case 'pause':
          return driver.pause(vm);
      }
    },
    async verify(ctx) {
      const vm = await findVm(ctx, jobDriver(ctx), vmOf(ctx));
      const wanted = action === 'restart' ? ['running', 'starting'] : action === 'start' || action === 'resume' ? ['running', 'starting'] : rule.done;
      if (!wanted.includes(vm.state)) {
        throw new StepFailed(`${vm.name} is ${describeState(vm.state)} (${vm.rawState}) after the ${action}, not ${wanted.join(' or ')}.`);
      }
      await ctx.log(`${vm.name} is ${describeState(vm.state)} (${vm.rawState}).`);
      if (takesBoxDown.includes(action)) await recordBoxDown(ctx, vm);
    },
  };
}

const waitForSsh: VmStep = {
  name: 'Wait for SSH on the box (when asked)',
  async check(ctx) {
    if (ctx.params.waitForSsh && ctx.box) return false;
    await ctx.log(ctx.box ? 'Not asked to wait for SSH.' : 'This VM is not a box: no SSH to wait for.');
    return true;
  },
  apply: (ctx) => waitForBoxSsh(ctx, ctx.params.sshTimeoutSeconds * 1000),
  async verify() {},
};

/**
 * Rule 4 of the consistency proposal: what a box wrote under its delegated mounts reaches the host before it stops or
 * suspends through Boxyard; a failed write-back fails the job and the VM keeps running (server/mounts).
 */
function writeBackBeforeStopping(): VmStep {
  const writeBack = delegatedWriteBackStep<VmActionParams, object>((ctx) => ctx.params.vmId);
  return {
    ...writeBack,
    async check(ctx) {
      const vm = await findVm(ctx, jobDriver(ctx), vmOf(ctx));
      if (vm.state !== 'running') {
        await ctx.log(`${vm.name} is ${describeState(vm.state)}: its box cannot be reached, nothing to write back now.`);
        return true;
      }
      return writeBack.check(ctx);
    },
  };
}

function lifecycleRecipe(action: VmAction): Recipe<VmActionParams, object> {
  const wakes = action === 'start' || action === 'resume' || action === 'restart';
  const stops = action === 'stop' || action === 'suspend';
  return {
    kind: lifecycleKind(action),
    needs: { box: false, host: true },
    title: `VM ${action}`,
    params: vmActionParams,
    vmIdOf: (params) => params.vmId,
    exclusiveKeyOf: ({ hostId, vmId }) => (hostId && vmId ? vmJobKey(hostId, vmId) : null),
    steps: [oneAtATime, ...(stops ? [writeBackBeforeStopping()] : []), actionStep(action), ...(wakes ? [waitForSsh] : [])],
  };
}

export const lifecycleRecipes = Object.fromEntries(vmActions.map((action) => [action, lifecycleRecipe(action)])) as Record<
  VmAction,
  Recipe<VmActionParams, object>
>;

import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { untilAborted } from '../abort';
import { recordAudit } from '../audit/audit';
import { unpinned } from '../boxes/boxes';
import { AppError, isAppError } from '../errors';
import { lookUpVm } from '../hypervisors/common';
import type { VmRef } from '../hypervisors/driver';
import { boxOf, hostOf, probeStep, StepFailed, type Recipe, type Step, type StepContext } from '../jobs/recipe';
import { enqueueJob } from '../jobs/queue';
import { dockerParams, dockerRecipe } from '../provision/docker-recipe';
import { findVm, jobDriver, waitForBoxSsh } from './steps';

/**
 * "New box from template": clone a template VM, set its CPUs and memory, start it, find its SSH address, wait for
 * SSH, fill in the box made when the job was queued, and optionally queue Docker provisioning of it.
 */

export const cloneAddress = z.discriminatedUnion('mode', [
  /** Ask the hypervisor for the guest's IP (libvirt domifaddr, prlctl ip_configured, utmctl ip-address). */
  z.object({ mode: z.literal('guest-ip'), port: z.number().int().min(1).max(65535).default(22) }),
  /** Given by hand, e.g. 127.0.0.1 and a port forwarded to the guest's 22. */
  z.object({ mode: z.literal('manual'), host: z.string().min(1).max(253), port: z.number().int().min(1).max(65535) }),
]);

export const cloneParams = z.object({
  templateId: z.string().min(1).max(200),
  templateName: z.string().min(1).max(200),
  vmName: z.string().min(1).max(200),
  cpus: z.number().int().min(1).max(1024).optional(),
  memoryMiB: z.number().int().min(64).max(16 * 1024 * 1024).optional(),
  address: cloneAddress,
  sshTimeoutSeconds: z.number().int().min(5).max(1800).default(300),
  /** Queue Docker provisioning of the new box once it answers SSH. */
  provisionDocker: z.boolean().default(false),
});
export type CloneParams = z.output<typeof cloneParams>;
interface CloneState {
  vmId: string;
  dockerJobId: string;
}
type Ctx = StepContext<CloneParams, CloneState>;
type CloneStep = Step<CloneParams, CloneState>;

function cloneRef(ctx: Ctx): VmRef {
  if (!ctx.state.vmId) throw new StepFailed('the clone is unknown: the clone step has not run');
  return { id: ctx.state.vmId, name: ctx.params.vmName };
}

const DISK_FULL = /no space left|not enough (free )?(disk )?space|insufficient (disk )?space|disk is full|ENOSPC/i;

const clone: CloneStep = {
  name: 'Clone the template',
  async check(ctx) {
    if (!ctx.state.vmId) return false;
    // A resumed job: the clone exists already if its VM is still there.
    return (await lookUpVm(jobDriver(ctx), cloneRef(ctx))) !== null;
  },
  async apply(ctx) {
    const driver = jobDriver(ctx);
    const host = hostOf(ctx);
    const template: VmRef = { id: ctx.params.templateId, name: ctx.params.templateName };
    try {
      const made = await driver.clone(template, ctx.params.vmName);
      ctx.state.vmId = made.id;
    } catch (error) {
      if (isAppError(error) && DISK_FULL.test(`${error.message}\n${error.internal ?? ''}`)) {
        throw new StepFailed(`Not enough disk space on host ${host.name} to clone ${template.name}: ${error.message}`, { cause: error });
      }
      throw error;
    }
    await ctx.db.box.update({ where: { id: boxOf(ctx).id }, data: { vmHostId: host.id, vmId: ctx.state.vmId } });
    await ctx.log(`Cloned ${template.name} as ${ctx.params.vmName} (${ctx.state.vmId}).`);
  },
  // driver.clone found the new VM in the host's listing already.
  async verify(ctx) {
    cloneRef(ctx);
  },
};

const resources: CloneStep = {
  name: 'Set CPUs and memory',
  async check(ctx) {
    const { cpus, memoryMiB } = ctx.params;
    if (cpus === undefined && memoryMiB === undefined) {
      await ctx.log('Keeping the template’s CPUs and memory.');
      return true;
    }
    const vm = await findVm(ctx, jobDriver(ctx), cloneRef(ctx));
    return (cpus === undefined || vm.cpus === cpus) && (memoryMiB === undefined || vm.memoryMiB === memoryMiB);
  },
  async apply(ctx) {
    await jobDriver(ctx).setResources(cloneRef(ctx), { cpus: ctx.params.cpus, memoryMiB: ctx.params.memoryMiB });
  },
  async verify(ctx) {
    const vm = await findVm(ctx, jobDriver(ctx), cloneRef(ctx));
    await ctx.log(`${vm.name}: ${vm.cpus ?? '?'} CPUs, ${vm.memoryMiB ?? '?'} MiB.`);
  },
};

const start: CloneStep = {
  name: 'Start the VM',
  async check(ctx) {
    const vm = await findVm(ctx, jobDriver(ctx), cloneRef(ctx));
    return vm.state === 'running' || vm.state === 'starting';
  },
  apply: (ctx) => jobDriver(ctx).start(cloneRef(ctx)),
  async verify(ctx) {
    const vm = await findVm(ctx, jobDriver(ctx), cloneRef(ctx));
    if (vm.state !== 'running' && vm.state !== 'starting') throw new StepFailed(`${vm.name} is ${vm.rawState} after starting it.`);
  },
};

/** Sets the box's address; a new address drops the old host-key pin (as editing a box does). */
async function setBoxAddress(ctx: Ctx, host: string, port: number): Promise<void> {
  const box = boxOf(ctx);
  const current = await ctx.db.box.findUnique({ where: { id: box.id }, select: { host: true, port: true } });
  if (current && current.host === host && current.port === port) return;
  await ctx.db.box.update({
    where: { id: box.id },
    data: { host, port, ...unpinned },
  });
}

const address: CloneStep = probeStep('Find the guest’s SSH address', async (ctx) => {
  const wanted = ctx.params.address;
  if (wanted.mode === 'manual') {
    await setBoxAddress(ctx, wanted.host, wanted.port);
    await ctx.log(`SSH address given by hand: ${wanted.host}:${wanted.port}.`);
    return;
  }
  const deadline = Date.now() + ctx.params.sshTimeoutSeconds * 1000;
  const driver = jobDriver(ctx);
  for (;;) {
    const ip = await driver.guestIp(cloneRef(ctx));
    if (ip) {
      await setBoxAddress(ctx, ip, wanted.port);
      await ctx.log(`${hostOf(ctx).name} reports ${ip} for ${ctx.params.vmName}.`);
      return;
    }
    if (Date.now() >= deadline) {
      throw new StepFailed(
        `host ${hostOf(ctx).name} did not report an address for ${ctx.params.vmName} within ${ctx.params.sshTimeoutSeconds} s; enter the box's address by hand on its page.`,
      );
    }
    await untilAborted(sleep(2_000), ctx.signal);
  }
});

const ssh: CloneStep = {
  name: 'Wait for SSH',
  check: async () => false,
  apply: (ctx) => waitForBoxSsh(ctx, ctx.params.sshTimeoutSeconds * 1000),
  async verify() {},
};

/**
 * Written straight into the job queue (the recipe cannot reach the runner); the runner polls the queue, so the
 * provisioning job starts within its poll interval, on whichever dashboard is free.
 */
const chainDocker: CloneStep = {
  name: 'Queue Docker provisioning (when asked)',
  async check(ctx) {
    if (!ctx.params.provisionDocker) {
      await ctx.log('Docker provisioning was not asked for.');
      return true;
    }
    return Boolean(ctx.state.dockerJobId);
  },
  async apply(ctx) {
    const box = boxOf(ctx);
    const job = await ctx.db.job.findUniqueOrThrow({ where: { id: ctx.jobId }, select: { createdById: true, createdByEmail: true } });
    const actor = { id: job.createdById, email: job.createdByEmail };
    const params = dockerParams.parse({});
    const jobId = await enqueueJob(ctx.db, {
      kind: dockerRecipe.kind,
      box: { id: box.id, name: box.name },
      host: null,
      createdBy: actor,
      params,
      stepNames: dockerRecipe.steps.map((step) => step.name),
    });
    await recordAudit(ctx.db, { actor, action: 'job.enqueue', box: { id: box.id, name: box.name }, detail: { jobId, kind: dockerRecipe.kind, params, after: ctx.jobId }, result: 'ok' });
    ctx.state.dockerJobId = jobId;
    await ctx.log(`Docker provisioning queued as job ${jobId}.`);
  },
  async verify() {},
};

export const cloneRecipe: Recipe<CloneParams, CloneState> = {
  kind: 'vm.clone-box',
  needs: { box: true, host: true },
  title: 'New box from template',
  params: cloneParams,
  steps: [clone, resources, start, address, ssh, chainDocker],
};

/** For enqueue-time checks. */
export function cloneNameTaken(vmName: string, hostName: string): AppError {
  return new AppError('CONFLICT', `A VM named ${vmName} already exists on host ${hostName}; choose another name.`);
}

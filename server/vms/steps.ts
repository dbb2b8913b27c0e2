import { setTimeout as sleep } from 'node:timers/promises';
import { untilAborted } from '../abort';
import type { Db } from '../db/client';
import { isAppError } from '../errors';
import type { HypervisorDriver, VmInfo, VmRef } from '../hypervisors/driver';
import { lookUpVm } from '../hypervisors/common';
import { createDriver } from '../hypervisors/factory';
import { hostOf, StepFailed, type StepContext } from '../jobs/recipe';
import { activeJobStatuses } from '../../lib/job-status';
import { sshBanner } from '../ssh/banner';
import { sh } from '../ssh/quote';
import { lifecycleKinds } from './rules';

/** Helpers the VM recipes share: the host's driver inside a job, finding the VM, waiting for SSH, one action per VM. */

/** How often a stopping VM is looked at: the stop's "graceful or forced" verdict is at most this late. */
const STOP_POLL_MS = 1_000;

/** The host's driver, running its commands through the job (audited by HostRemote, shown in the job log). */
export function jobDriver<P, S>(ctx: StepContext<P, S>): HypervisorDriver {
  let driver = drivers.get(ctx);
  if (!driver) {
    driver = newJobDriver(ctx);
    drivers.set(ctx, driver);
  }
  return driver;
}

/** One driver per step context (the runner makes one per step run), so the tool is located once per step. */
const drivers = new WeakMap<object, HypervisorDriver>();

function newJobDriver<P, S>(ctx: StepContext<P, S>): HypervisorDriver {
  const host = hostOf(ctx);
  return createDriver(host.kind, (command, options) => ctx.hostExec(command, { timeoutMs: options?.timeoutMs, stdin: options?.stdin }), {
    hostName: host.name,
    stopPollIntervalMs: STOP_POLL_MS,
  });
}

export function vmGoneMessage(vmName: string, hostName: string): string {
  return `the VM ${vmName} no longer exists on host ${hostName}`;
}

/** The VM as the host lists it now; a VM deleted behind Boxyard's back is a plain failure. */
export async function findVm<P, S>(ctx: StepContext<P, S>, driver: HypervisorDriver, vm: VmRef): Promise<VmInfo> {
  const found = await lookUpVm(driver, vm);
  if (!found) throw new StepFailed(vmGoneMessage(vm.name, hostOf(ctx).name));
  return found;
}

/** The exclusive key of the lifecycle jobs on one VM (JobRunner.enqueue): one action at a time per VM. */
export function vmJobKey(hostId: string, vmId: string): string {
  return `vm:${hostId}:${vmId}`;
}

/** The lifecycle jobs on this VM that are queued or running, oldest first. */
export async function activeVmJobs(db: Db, hostId: string, vmId: string) {
  return db.job.findMany({
    where: { hostId, vmId, kind: { in: [...lifecycleKinds] }, status: { in: [...activeJobStatuses] } },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    select: { id: true, kind: true, createdAt: true, createdByEmail: true, status: true },
  });
}

/** Jobs ordered by (createdAt, id): the same total order on SQLite and PostgreSQL, so exactly one job is first. */
export function isBefore(a: { createdAt: Date; id: string }, b: { createdAt: Date; id: string }): boolean {
  const byTime = a.createdAt.getTime() - b.createdAt.getTime();
  return byTime < 0 || (byTime === 0 && a.id < b.id);
}

/** The active lifecycle job on this VM that came before `jobId` (it wins; `jobId` must not run), or null. */
export async function earlierVmJob(db: Db, hostId: string, vmId: string, jobId: string) {
  const mine = await db.job.findUnique({ where: { id: jobId }, select: { id: true, createdAt: true } });
  if (!mine) return null;
  return (await activeVmJobs(db, hostId, vmId)).find((job) => job.id !== jobId && isBefore(job, mine)) ?? null;
}

const POLL_MS = 250;

/**
 * Polls until the job's box answers SSH (banner first, then a real login running `true`), or fails with a plain
 * sentence after timeoutMs.
 */
export async function waitForBoxSsh<P, S>(ctx: StepContext<P, S>, timeoutMs: number): Promise<void> {
  if (!ctx.box) throw new StepFailed('this job has no box to wait for');
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastProblem = '';
  let loginTried = false;
  for (;;) {
    ctx.signal.throwIfAborted();
    const box = await ctx.db.box.findUnique({ where: { id: ctx.box.id }, select: { host: true, port: true, name: true } });
    if (!box) throw new StepFailed(`the box ${ctx.box.name} was deleted`);
    const remaining = deadline - Date.now();
    if (await sshBanner(box.host, box.port, Math.max(200, Math.min(3_000, remaining)))) {
      try {
        // A login tried while the VM was still waking earned a backoff; the box is back now.
        if (loginTried) ctx.refreshSession();
        loginTried = true;
        const result = await ctx.exec(sh`true`, { timeoutMs: Math.max(5_000, Math.min(20_000, remaining)) });
        if (result.code === 0) {
          await ctx.log(`${box.name} answers SSH on ${box.host}:${box.port} after ${((Date.now() - started) / 1000).toFixed(1)} s.`);
          return;
        }
        lastProblem = `\`true\` exited ${result.code}`;
      } catch (error) {
        if (!isAppError(error)) throw error;
        if (error.code === 'SSH_HOST_KEY_MISMATCH' || error.code === 'SSH_AUTH_FAILED') throw new StepFailed(`${box.name} answers SSH but: ${error.message}`);
        lastProblem = error.message;
      }
    } else {
      lastProblem = `nothing answers SSH on ${box.host}:${box.port} yet`;
    }
    if (Date.now() >= deadline) {
      throw new StepFailed(`${box.name} did not answer SSH within ${Math.round(timeoutMs / 1000)} s (${lastProblem}). Is sshd enabled in the guest and the address right?`);
    }
    await untilAborted(sleep(POLL_MS), ctx.signal);
  }
}

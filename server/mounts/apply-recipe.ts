import { z } from 'zod';
import type { Actor } from '../audit/audit';
import type { BoxRemote } from '../boxes/remote';
import type { Db } from '../db/client';
import { AppError, isAppError } from '../errors';
import { getShareRoots, isUnderShareRoot, outsideRootsMessage, parseRealPath, realPathCommand } from '../hosts/share-roots';
import type { HostExec, HypervisorDriver, SharedFolder, VmRef } from '../hypervisors/driver';
import { lookUpVm } from '../hypervisors/common';
import { createDriver } from '../hypervisors/factory';
import { boxOf, probeStep, StepFailed, type Recipe, type Step, type StepContext } from '../jobs/recipe';
import type { ExecResult } from '../ssh/pool';
import { sh, type ShellCommand } from '../ssh/quote';
import { compilePolicy, hypervisorShareAction, type CompiledEntry } from './compile';
import {
  asRoot,
  entriesMismatch,
  parseGuestFacts,
  parseProcMounts,
  probeGuestCommand,
  readAppliedCommand,
  saveAppliedScript,
  setupScript,
  teardownScript,
  writeBackScript,
  type GuestFacts,
} from './guest';
import { mountsJobKey } from './measure';
import { validatePolicy, type MountSpec } from './policy';

/**
 * Applying a box's mount policy as a job:
 *   1. read the policy from the database, validate and compile it; look at the box (root/sudo, systemd, rsync);
 *   2. hypervisor shares: each 9p/virtiofs/Parallels entry's folder on the box's VM host, through its driver as its
 *      capabilities say (shares in the persistent config, as libvirt's compiled <filesystem> XML, go only into a
 *      stopped VM: a running VM that lacks a share is refused with what to do; others are added at once);
 *   3. guest: write back the delegated replicas of the mounts in place (so a mode change loses nothing), take the
 *      old mounts down, write the systemd units (or the fstab block), mount in order, verify against /proc/mounts;
 *      on any failure take the new ones down and put the previous working set back (the box's applied.json), then
 *      fail naming both;
 *   4. record the applied configuration on each Mount row (appliedConfig, the rollback point).
 */

export const mountApplyParams = z.object({});
export type MountApplyParams = z.output<typeof mountApplyParams>;

interface ApplyState {
  facts: GuestFacts;
  entries: CompiledEntry[];
  /** Entry key -> the real path of its host folder on the VM's host, checked against the host's share roots. */
  realSources: Record<string, string>;
}

type Ctx = StepContext<MountApplyParams, ApplyState>;
type ApplyStep = Step<MountApplyParams, ApplyState>;

const QUICK_MS = 30_000;
const MOUNT_MS = 300_000;

export interface MountRow {
  id: string;
  hostPath: string;
  guestPath: string;
  transport: string;
  mode: string;
  readOnly: boolean;
  overrides: { subPath: string; mode: string }[];
}

export function specOf(row: MountRow): unknown {
  return {
    hostPath: row.hostPath,
    guestPath: row.guestPath,
    transport: row.transport,
    mode: row.mode,
    readOnly: row.readOnly,
    overrides: row.overrides.map((o) => ({ subPath: o.subPath, mode: o.mode })),
  };
}

/** The box's policy, compiled; the same function the UI's preview uses. */
export async function compileBoxPolicy(db: Db, boxId: string): Promise<{ specs: MountSpec[]; entries: CompiledEntry[]; compose: string; rows: MountRow[] }> {
  const box = await db.box.findUniqueOrThrow({ where: { id: boxId }, select: { host: true, port: true, sshUser: true } });
  const rows = await db.mount.findMany({ where: { boxId }, include: { overrides: { orderBy: { subPath: 'asc' } } }, orderBy: { guestPath: 'asc' } });
  const specs = validatePolicy(rows.map(specOf));
  const compiled = compilePolicy(specs, { box: { sshUser: box.sshUser, host: box.host, port: box.port } });
  return { specs, entries: compiled.entries, compose: compiled.compose, rows };
}

function facts(ctx: Ctx): GuestFacts {
  if (!ctx.state.facts || !ctx.state.entries) throw new Error('the probe step has not run');
  return ctx.state.facts;
}

const tail = (text: string, n = 6) => text.trim().split('\n').slice(-n).join('\n');

const readPolicy: ApplyStep = probeStep('Read and compile the mount policy', async (ctx) => {
  let compiled;
  try {
    compiled = await compileBoxPolicy(ctx.db, boxOf(ctx).id);
  } catch (error) {
    throw new StepFailed(`the mount policy is not valid:\n${(error as Error).message}`);
  }
  ctx.state.entries = compiled.entries;
  for (const entry of compiled.entries) {
    const weak = entry.guarantees.filter((item) => item.status === 'weakened' || item.status === 'not-met');
    await ctx.log(`${entry.guestPath}: ${entry.mode} on ${entry.transport}${weak.length ? ` — weakened: ${weak.map((item) => item.rule).join(', ')}` : ', every guarantee holds'}`, weak.length ? 'warn' : 'info');
    for (const note of entry.host.runsOn === 'developer-machine' || entry.host.runsOn === 'nfs-server' ? [entry.host.text, ...entry.host.notes] : []) {
      await ctx.log(`On ${entry.host.runsOn === 'nfs-server' ? 'the NFS server' : "the developer's machine"}: ${note}`, 'warn');
    }
  }
});

const probeGuest: ApplyStep = probeStep('Look at the box', async (ctx) => {
  const entries = ctx.state.entries ?? [];
  const probe = await ctx.exec(probeGuestCommand, { timeoutMs: QUICK_MS });
  const found = parseGuestFacts(probe.stdout);
  ctx.state.facts = found;
  if (!found.root && !found.sudo) throw new StepFailed(`the box user ${boxOf(ctx).sshUser} needs passwordless sudo (NOPASSWD) to mount folders`);
  if (entries.some((e) => e.replica) && !found.rsync) {
    throw new StepFailed('delegated mounts keep a replica on the box and write it back with rsync, which the box lacks: install it (apt-get install rsync) and apply again');
  }
  if (entries.some((e) => e.transport === 'sshfs') && !found.sshfs) throw new StepFailed('sshfs mounts need sshfs on the box: install it (apt-get install sshfs) and apply again');
  // A guest path with files of the box's own would be hidden by the mount: refuse rather than hide them.
  const applied = JSON.parse((await ctx.exec(readAppliedCommand, { timeoutMs: QUICK_MS })).stdout || '[]') as CompiledEntry[];
  for (const entry of entries) {
    if (entry.parent || applied.some((old) => old.guestPath === entry.guestPath)) continue;
    const listed = await ctx.exec(sh`if mountpoint -q ${entry.guestPath}; then echo mounted; elif [ -d ${entry.guestPath} ]; then ls -A ${entry.guestPath} | head -3; fi`, { timeoutMs: QUICK_MS });
    const out = listed.stdout.trim();
    if (out === 'mounted') throw new StepFailed(`${entry.guestPath} is already a mount point in the box that Boxyard did not make: unmount it first`);
    if (out) throw new StepFailed(`${entry.guestPath} is not empty in the box (${out.split('\n').join(', ')}…): mounting over it would hide those files. Move them away or choose another guest path.`);
  }
  await ctx.log(`${entries.length} mount(s); the box ${found.systemd ? 'runs systemd: mount units' : 'has no systemd: an fstab block'}.`);
});

// ---- hypervisor shares ----

interface VmTarget {
  driver: HypervisorDriver;
  vm: VmRef;
  exec: HostExec;
}

async function vmTarget(ctx: Ctx): Promise<VmTarget | null> {
  const box = await ctx.db.box.findUnique({ where: { id: boxOf(ctx).id }, select: { vmHostId: true, vmId: true } });
  if (!box?.vmHostId || !box.vmId || !ctx.host) return null;
  const exec: HostExec = (command, options) => ctx.hostExec(command, { timeoutMs: options?.timeoutMs, stdin: options?.stdin });
  return { driver: createDriver(ctx.host.kind, exec, { hostName: ctx.host.name }), vm: { id: box.vmId, name: boxOf(ctx).name }, exec };
}

const hypervisorEntries = (ctx: Ctx) => (ctx.state.entries ?? []).filter((e) => e.host.runsOn === 'hypervisor' && e.host.share);

/** The driver's failure as the step's, after what was being done. */
async function orFail<T>(what: string, action: Promise<T>): Promise<T> {
  try {
    return await action;
  } catch (error) {
    if (isAppError(error)) throw new StepFailed(`${what}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** The entries whose share the VM lacks; every entry where the driver cannot list a VM's shares. */
async function missingShares(ctx: Ctx, target: VmTarget, live: boolean): Promise<CompiledEntry[]> {
  const entries = hypervisorEntries(ctx);
  if (!target.driver.capabilities.sharedFolders.inPersistentConfig) return entries;
  const names = await orFail("could not read the VM's configuration on its host", target.driver.sharedFolderNames(target.vm, live ? 'live' : 'persistent'));
  return entries.filter((entry) => !names.includes(entry.host.share!.name));
}

/**
 * Host folders are shared only under the roots an admin allows on the VM's host (server/hosts/share-roots.ts). The
 * save checked the paths as written; here each folder's REAL path is resolved on the host itself (every symlink
 * followed), checked again, and kept: the shares step attaches that real path, never the path as written. Runs
 * before anything touches the VM.
 */
const hostFolders: ApplyStep = probeStep('Check the host folders against what the host allows', async (ctx) => {
  const entries = hypervisorEntries(ctx);
  ctx.state.realSources = {};
  if (entries.length === 0 || !(await vmTarget(ctx))) return; // nothing to attach (the shares step says what to do by hand)
  const { name, roots } = await getShareRoots(ctx.db, ctx.host!.id);
  for (const entry of entries) {
    const refuse = (real?: string) => new StepFailed(`${entry.guestPath}: ${outsideRootsMessage(entry.source, name, roots, real)}`);
    if (!isUnderShareRoot(entry.source, roots)) throw refuse();
    const resolved = await ctx.hostExec(realPathCommand(entry.source), { timeoutMs: QUICK_MS });
    if (resolved.code !== 0) throw new StepFailed(`the host path ${entry.source} (for ${entry.guestPath}) does not exist on ${name}: create it or correct the mount`);
    const real = parseRealPath(resolved.stdout);
    if (!isUnderShareRoot(real, roots)) throw refuse(real);
    ctx.state.realSources[entry.key] = real;
    await ctx.log(`${entry.source} is ${real} on ${name}, under an allowed root.`);
  }
});

/** What the hypervisor gets for an entry: its compiled share, for the folder's checked real path. */
function checkedShare(ctx: Ctx, entry: CompiledEntry): SharedFolder {
  const real = ctx.state.realSources?.[entry.key];
  if (real === undefined) throw new Error(`the host folder of ${entry.guestPath} was not checked`);
  // The share under a delegated replica is mounted consistent (as compile.ts compiles it).
  const action = hypervisorShareAction(entry.transport as '9p' | 'virtiofs' | 'parallels', { ...entry.host.share!, hostPath: real }, entry.replica ? 'consistent' : entry.mode);
  return { ...action.share!, device: action.text };
}

const shares: ApplyStep = {
  name: 'Share the folders on the hypervisor host',
  async check(ctx) {
    if (hypervisorEntries(ctx).length === 0) return true;
    const target = await vmTarget(ctx);
    if (!target) {
      throw new StepFailed(
        `${boxOf(ctx).name} is not a VM on a registered hypervisor host, so Boxyard cannot add its shared folders. Add them on the host by hand, then apply again:\n${hypervisorEntries(ctx)
          .map((e) => e.host.text)
          .join('\n')}`,
      );
    }
    const { byHandOnly, inPersistentConfig } = target.driver.capabilities.sharedFolders;
    if (byHandOnly) throw new StepFailed(`${byHandOnly}, then apply again:\n${hypervisorEntries(ctx).map((e) => `${e.host.share!.name}: ${e.host.share!.hostPath}`).join('\n')}`);
    if (!inPersistentConfig) return false;
    return (await missingShares(ctx, target, true)).length === 0;
  },
  async apply(ctx) {
    const { driver, vm, exec } = (await vmTarget(ctx))!;
    if (!driver.capabilities.sharedFolders.inPersistentConfig) {
      for (const entry of hypervisorEntries(ctx)) {
        await driver.addSharedFolder(vm, checkedShare(ctx, entry)).catch(async (error: unknown) => {
          if (error instanceof AppError && /already exists|exists/i.test(`${error.message} ${error.internal ?? ''}`)) return;
          throw error;
        });
      }
      return;
    }
    const found = await orFail("could not read the VM's state on its host", lookUpVm(driver, vm));
    if (!found) throw new StepFailed(`the VM of ${vm.name} no longer exists on ${ctx.host?.name ?? 'its host'}`);
    // Shut off (saved or not): its persistent config is what it starts with next.
    const running = found.state !== 'stopped' && found.state !== 'suspended';
    const missing = await missingShares(ctx, { driver, vm, exec }, running);
    if (running && missing.length) {
      throw new StepFailed(
        `${boxOf(ctx).name} is running, and libvirt adds a shared folder only to a stopped VM (it takes effect at its next start). Stop the VM in Boxyard and apply again: Boxyard adds ${missing
          .map((e) => `${e.host.share!.name} (${e.source} for ${e.guestPath})`)
          .join(', ')} and starts it.`,
      );
    }
    for (const transport of new Set(missing.map((e) => e.transport))) {
      const problem = await orFail("could not read the VM's configuration on its host", driver.sharedFolderProblem(vm, transport));
      if (problem) throw new StepFailed(`${problem} and apply again.`);
    }
    for (const entry of missing) {
      const exists = await exec(sh`test -d ${checkedShare(ctx, entry).hostPath}`);
      if (exists.code !== 0) throw new StepFailed(`the host path ${entry.source} (for ${entry.guestPath}) is not a folder on ${ctx.host?.name ?? 'the host'}: create it or correct the mount`);
    }
    for (const entry of missing) {
      const share = checkedShare(ctx, entry);
      await orFail(`the hypervisor refused the shared folder for ${entry.guestPath}`, driver.addSharedFolder(vm, share));
      await ctx.log(`Added ${share.name} (${share.hostPath}) to the VM's configuration.`);
    }
    if (!running) {
      await ctx.log('Starting the VM with its new shared folders.');
      await orFail('the VM did not start with its new shared folders', driver.start(vm));
    }
  },
  async verify(ctx) {
    const target = (await vmTarget(ctx))!;
    if (target.driver.capabilities.sharedFolders.inPersistentConfig && (await missingShares(ctx, target, false)).length) {
      throw new StepFailed('the shared folders are not in the VM\'s configuration after adding them');
    }
  },
};

// ---- guest ----

/** Runs a command on the box as root (the caller wraps sudo); the rest of apply is the same for the recipe and tests. */
export type RootRun = (command: ShellCommand, timeoutMs?: number) => Promise<ExecResult>;

async function mismatchWith(run: RootRun, entries: readonly CompiledEntry[]): Promise<string[]> {
  const proc = await run(sh`cat /proc/mounts`, QUICK_MS);
  return entriesMismatch(entries, parseProcMounts(proc.stdout));
}

/**
 * The guest half of apply: write back the delegated mounts in place (rule 4 before their mount goes), take the
 * previous set down, bring the wanted set up, verify against /proc/mounts, record it in applied.json; on failure put
 * the previous set back and throw StepFailed naming what failed and what the box has now.
 */
export async function applyOnGuest(run: RootRun, f: Pick<GuestFacts, 'systemd'>, wanted: readonly CompiledEntry[], log: (text: string) => Promise<void>): Promise<void> {
  const read = await run(readAppliedCommand, QUICK_MS);
  let previous: CompiledEntry[] = [];
  try {
    previous = JSON.parse(read.stdout || '[]') as CompiledEntry[];
  } catch {
    previous = [];
  }
  const back = await run(writeBackScript(previous));
  if (back.code !== 0) throw new StepFailed(`the write-back of the current delegated mounts failed, so nothing was changed:\n${tail(back.stderr || back.stdout)}`);
  await run(teardownScript(previous, f));
  const up = await run(setupScript(wanted, f));
  const problems = up.code === 0 ? await mismatchWith(run, wanted) : [];
  if (up.code === 0 && problems.length === 0) {
    const saved = await run(saveAppliedScript(wanted), QUICK_MS);
    if (saved.code !== 0) throw new StepFailed(`mounted, but could not record the applied mounts on the box: ${tail(saved.stderr, 3)}`);
    return;
  }
  const why = up.code !== 0 ? tail(up.stderr || up.stdout) : problems.join('\n');
  await log(`The new mounts did not come up (${why}); putting the previous ones back.`);
  await run(teardownScript(wanted, f));
  const restored = await run(setupScript(previous, f));
  const stillWrong = restored.code === 0 ? await mismatchWith(run, previous) : [`the previous mounts did not come up either: ${tail(restored.stderr || restored.stdout, 3)}`];
  const outcome = stillWrong.length
    ? `Putting the previous mounts back ALSO failed (${stillWrong.join('; ')}): the box has none of Boxyard's mounts now.`
    : previous.length
      ? `The previous mounts were put back and work: ${previous.map((e) => `${e.guestPath} (${e.mode} on ${e.transport})`).join(', ')}.`
      : 'There were no previous mounts; nothing is mounted.';
  throw new StepFailed(`a mount failed to come up: ${why}\n${outcome}`);
}

async function rootExec(ctx: Ctx, command: ShellCommand, timeoutMs = MOUNT_MS) {
  return ctx.exec(asRoot(facts(ctx).root, command), { timeoutMs });
}

async function currentMismatch(ctx: Ctx, entries: readonly CompiledEntry[]): Promise<string[]> {
  const proc = await ctx.exec(sh`cat /proc/mounts`, { timeoutMs: QUICK_MS });
  return entriesMismatch(entries, parseProcMounts(proc.stdout));
}

async function appliedOnBox(ctx: Ctx): Promise<CompiledEntry[]> {
  const result = await ctx.exec(readAppliedCommand, { timeoutMs: QUICK_MS });
  try {
    return JSON.parse(result.stdout || '[]') as CompiledEntry[];
  } catch {
    return [];
  }
}

const sameEntries = (a: readonly CompiledEntry[], b: readonly CompiledEntry[]) => JSON.stringify(a) === JSON.stringify(b);

const mount: ApplyStep = {
  name: 'Mount in the box and verify',
  async check(ctx) {
    const wanted = ctx.state.entries ?? [];
    return sameEntries(await appliedOnBox(ctx), wanted) && (await currentMismatch(ctx, wanted)).length === 0;
  },
  async apply(ctx) {
    const boxId = boxOf(ctx).id;
    try {
      await applyOnGuest((command, timeoutMs) => rootExec(ctx, command, timeoutMs), facts(ctx), ctx.state.entries ?? [], (text) => ctx.log(text, 'error'));
    } catch (error) {
      if (error instanceof StepFailed) await ctx.db.mount.updateMany({ where: { boxId }, data: { status: 'failed', lastError: error.message } });
      throw error;
    }
  },
  async verify(ctx) {
    const problems = await currentMismatch(ctx, ctx.state.entries ?? []);
    if (problems.length) throw new StepFailed(`the mounts are not as wanted: ${problems.join('; ')}`);
  },
};

const record: ApplyStep = probeStep('Record the applied configuration', async (ctx) => {
  const entries = ctx.state.entries ?? [];
  const rows = await ctx.db.mount.findMany({ where: { boxId: boxOf(ctx).id }, select: { id: true, guestPath: true } });
  const now = new Date();
  for (const row of rows) {
    const own = entries.filter((e) => e.guestPath === row.guestPath || (e.subPath !== null && e.guestPath.startsWith(`${row.guestPath}/`) && e.guestPath === `${row.guestPath}/${e.subPath}`));
    await ctx.db.mount.update({ where: { id: row.id }, data: { status: 'applied', appliedConfig: JSON.stringify(own), appliedAt: now, lastError: null } });
  }
});

export const mountApplyRecipe: Recipe<MountApplyParams, ApplyState> = {
  kind: 'mounts.apply',
  needs: { box: true, host: false },
  title: 'Apply mounts',
  params: mountApplyParams,
  exclusiveKeyOf: ({ boxId }) => boxId && mountsJobKey(boxId),
  steps: [readPolicy, hostFolders, shares, probeGuest, mount, record],
};

// ---- write-back for the VM lifecycle ----

export interface WriteBackResult {
  /** Guest paths written back (or flushed). */
  written: string[];
  /** Mutagen sessions the user must flush on their own machine (Boxyard cannot run it there). */
  flushYourself: string[];
}

/**
 * Rule 4 of the proposal: before Boxyard stops or suspends a box's VM, every delegated mount is written back to the
 * host. Call it from the VM lifecycle (server/vms) BEFORE the stop/suspend; when it throws, the stop/suspend must
 * fail with its message (the AppError names where the box's data is kept). A box without delegated mounts costs
 * one database query and no SSH. Reads the applied configuration, not the edited policy.
 */
export async function writeBackDelegatedMounts(deps: { db: Db; remote: BoxRemote }, actor: Actor, boxId: string, options: { signal?: AbortSignal } = {}): Promise<WriteBackResult> {
  return writeBackWith(deps.db, boxId, (command, timeoutMs) => deps.remote.exec(boxId, command, { actor, purpose: 'mounts.write-back', timeoutMs, signal: options.signal }));
}

async function writeBackWith(db: Db, boxId: string, exec: (command: ShellCommand, timeoutMs: number) => Promise<ExecResult>): Promise<WriteBackResult> {
  const rows = await db.mount.findMany({ where: { boxId, status: { in: ['applied', 'failed'] } }, select: { id: true, appliedConfig: true } });
  const entries = rows.flatMap((row) => (row.appliedConfig ? (JSON.parse(row.appliedConfig) as CompiledEntry[]) : []));
  const delegated = entries.filter((e) => e.mode === 'delegated');
  const result: WriteBackResult = { written: [], flushYourself: delegated.filter((e) => e.transport === 'mutagen').map((e) => `mutagen sync flush boxyard-${e.key}`) };
  const onBox = delegated.filter((e) => e.replica || e.transport === 'nfs');
  if (onBox.length === 0) return result;
  const kept = onBox.map((e) => e.replica?.replicaDir ?? e.guestPath).join(', ');
  let outcome: ExecResult;
  try {
    const uid = await exec(sh`id -u`, QUICK_MS);
    outcome = await exec(asRoot(uid.stdout.trim() === '0', writeBackScript(onBox)), 600_000);
  } catch (error) {
    throw new AppError('REMOTE_COMMAND_FAILED', `Could not write back the delegated mounts (${onBox.map((e) => e.guestPath).join(', ')}) before stopping: ${(error as Error).message}. The box's changes are kept on the box in ${kept}; the box was not stopped.`, { cause: error });
  }
  if (outcome.code !== 0) {
    const message = `The write-back of delegated mounts failed, so the box was not stopped:\n${tail(outcome.stderr || outcome.stdout)}`;
    await db.mount.updateMany({ where: { boxId, id: { in: rows.map((r) => r.id) } }, data: { lastError: message } });
    throw new AppError('REMOTE_COMMAND_FAILED', message, { internal: outcome.stderr });
  }
  result.written = onBox.map((e) => e.guestPath);
  return result;
}

/**
 * The same write-back as a job step, for the VM lifecycle recipes (server/vms): put it BEFORE the stop/suspend step.
 * Finds the box of the job (ctx.box, or the box whose vmHostId/vmId is the job's host and `vmIdOf(ctx)`); a VM that
 * is no box or has no delegated mounts passes at once. A failed write-back fails the step (so the job, and the VM
 * keeps running) with the message naming where the data is kept.
 */
export function delegatedWriteBackStep<P, S>(vmIdOf?: (ctx: StepContext<P, S>) => string | null): Step<P, S> {
  return probeStep('Write back delegated mounts', async (ctx) => {
    let boxId = ctx.box?.id ?? null;
    const vmId = vmIdOf?.(ctx) ?? null;
    if (!boxId && ctx.host && vmId) boxId = (await ctx.db.box.findFirst({ where: { vmHostId: ctx.host.id, vmId }, select: { id: true } }))?.id ?? null;
    if (!boxId) return;
    const target = boxId;
    try {
      const result = await writeBackWith(ctx.db, target, (command, timeoutMs) => (ctx.box ? ctx.exec(command, { timeoutMs }) : Promise.reject(new StepFailed('the job has no box to write back on'))));
      if (result.written.length) await ctx.log(`Wrote back ${result.written.join(', ')} to the host.`);
      for (const flush of result.flushYourself) await ctx.log(`Run on the machine that runs Mutagen before the box stops: ${flush}`, 'warn');
    } catch (error) {
      if (error instanceof AppError) throw new StepFailed(error.message, { cause: error });
      throw error;
    }
  });
}

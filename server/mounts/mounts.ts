import { z } from 'zod';
import { boxIdInput, mountSpec } from '../../lib/validation';
import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import type { BoxRemote } from '../boxes/remote';
import type { Db } from '../db/client';
import { getShareRoots, isUnderShareRoot, outsideRootsMessage } from '../hosts/share-roots';
import { AppError } from '../errors';
import type { Exclusive, JobRunner } from '../jobs/runner';
import { compileBoxPolicy, mountApplyRecipe, specOf, writeBackDelegatedMounts } from './apply-recipe';
import { compilePolicy } from './compile';
import { measureParams, measureRecipe, mountsJobKey, recommend } from './measure';
import { exportPolicyYaml, hostFolderTransports, importPolicyYaml, validatePolicy, type MountSpec } from './policy';

/** Domain functions behind server/trpc/mounts.ts. Seeing follows box access; editing, applying and measuring need an admin or the box's owner. */

export const savePolicyInput = boxIdInput.extend({ mounts: z.array(mountSpec).max(64) });
export const importPolicyInput = boxIdInput.extend({ yaml: z.string().max(256_000) });
export const previewInput = z.object({ mounts: z.array(mountSpec).max(64) });
export const measureInput = boxIdInput.extend(measureParams.shape);

async function editableBox(db: Db, user: SessionUser, boxId: string) {
  const box = await getBoxRow(db, user, boxId);
  if (user.role !== 'admin' && box.ownerId !== user.id) throw new AppError('FORBIDDEN', "Only admins and the box's owner can change its mounts.");
  return box;
}

export async function getMounts(db: Db, user: SessionUser, boxId: string) {
  const box = await getBoxRow(db, user, boxId);
  const rows = await db.mount.findMany({ where: { boxId }, include: { overrides: { orderBy: { subPath: 'asc' } } }, orderBy: { guestPath: 'asc' } });
  let compiled: ReturnType<typeof compilePolicy> | null = null;
  let policyError: string | null = null;
  try {
    compiled = (await compileBoxPolicy(db, boxId)) as unknown as ReturnType<typeof compilePolicy>;
  } catch (error) {
    policyError = (error as Error).message;
  }
  const runs = await db.mountBenchRun.findMany({ where: { boxId }, orderBy: { at: 'desc' }, take: 500 });
  return {
    canEdit: user.role === 'admin' || box.ownerId === user.id,
    isVm: Boolean(box.vmHostId && box.vmId),
    mounts: rows.map((row) => ({
      id: row.id,
      spec: specOf(row) as MountSpec,
      status: row.status,
      appliedAt: row.appliedAt,
      lastError: row.lastError,
      entries: compiled?.entries.filter((e) => e.guestPath === row.guestPath || e.guestPath.startsWith(`${row.guestPath}/`)) ?? [],
      recommendations: [row.guestPath, ...row.overrides.map((o) => `${row.guestPath}/${o.subPath}`)].map((path) => recommend(path, row.transport, runs)),
    })),
    compose: compiled?.compose ?? '',
    policyError,
    runs: runs.map((r) => ({ transport: r.transport, mode: r.mode, workload: r.workload, phase: r.phase, durationMs: r.durationMs, at: r.at })),
  };
}

/**
 * A VM box on a registered host shares host folders only under the roots its admin allows (server/hosts/share-roots.ts).
 * This checks the paths as written; the apply job checks the real paths on the host again before attaching. A box
 * that is no VM of a registered host gets nothing attached by Boxyard (apply shows what to add by hand).
 */
async function refuseFoldersOutsideRoots(db: Db, user: SessionUser, box: { id: string; name: string; vmHostId: string | null }, specs: readonly MountSpec[]) {
  const folders = specs.filter((spec) => hostFolderTransports.includes(spec.transport));
  if (!box.vmHostId || folders.length === 0) return;
  const host = await getShareRoots(db, box.vmHostId);
  const outside = folders.filter((spec) => !isUnderShareRoot(spec.hostPath, host.roots));
  if (outside.length === 0) return;
  const message = outside.map((spec) => `${spec.guestPath}: ${outsideRootsMessage(spec.hostPath, host.name, host.roots)}`).join('\n');
  await recordAudit(db, { actor: user, action: 'mounts.save', box: { id: box.id, name: box.name }, detail: { refused: outside.map((spec) => spec.hostPath) }, result: 'error', error: message });
  throw new AppError('FORBIDDEN', message);
}

/** Replaces the box's policy as a whole (validated together: two mounts on one path are refused before anything changes). */
export async function savePolicy(db: Db, user: SessionUser, boxId: string, input: unknown[]) {
  const box = await editableBox(db, user, boxId);
  const specs = validatePolicy(input);
  await refuseFoldersOutsideRoots(db, user, box, specs);
  const existing = await db.mount.findMany({ where: { boxId } });
  await db.$transaction(async (tx) => {
    const keep = new Set(specs.map((s) => s.guestPath));
    await tx.mount.deleteMany({ where: { boxId, guestPath: { notIn: [...keep] } } });
    for (const spec of specs) {
      const before = existing.find((row) => row.guestPath === spec.guestPath);
      const data = { hostPath: spec.hostPath, transport: spec.transport, mode: spec.mode, readOnly: spec.readOnly };
      const row = before
        ? await tx.mount.update({ where: { id: before.id }, data: { ...data, status: 'pending' } })
        : await tx.mount.create({ data: { ...data, boxId, guestPath: spec.guestPath, ownerId: user.id } });
      await tx.mountOverride.deleteMany({ where: { mountId: row.id } });
      for (const override of spec.overrides) await tx.mountOverride.create({ data: { mountId: row.id, subPath: override.subPath.replace(/\/+$/, ''), mode: override.mode } });
    }
  });
  await recordAudit(db, { actor: user, action: 'mounts.save', box: { id: box.id, name: box.name }, detail: { mounts: specs }, result: 'ok' });
  return getMounts(db, user, boxId);
}

export async function importPolicy(db: Db, user: SessionUser, boxId: string, yaml: string) {
  // Access first: a box the user may not change is refused the same way whatever the YAML holds.
  await editableBox(db, user, boxId);
  return savePolicy(db, user, boxId, importPolicyYaml(yaml));
}

export async function exportPolicy(db: Db, user: SessionUser, boxId: string) {
  const box = await getBoxRow(db, user, boxId);
  const rows = await db.mount.findMany({ where: { boxId: box.id }, include: { overrides: { orderBy: { subPath: 'asc' } } }, orderBy: { guestPath: 'asc' } });
  return { yaml: exportPolicyYaml(rows.map((row) => mountSpec.parse(specOf(row)))) };
}

export function previewPolicy(input: unknown[]) {
  return compilePolicy(validatePolicy(input));
}

function mountsExclusive(box: { id: string; name: string }): Exclusive {
  return {
    key: mountsJobKey(box.id),
    busy: (holder) => `Mounts are already being applied or measured on ${box.name} (job ${holder.id}, ${holder.status}); wait for that job first.`,
  };
}

export async function applyMounts(deps: { db: Db; jobs: JobRunner }, user: SessionUser, boxId: string) {
  const box = await editableBox(deps.db, user, boxId);
  await compileBoxPolicy(deps.db, boxId).catch((error: Error) => Promise.reject(new AppError('BAD_INPUT', error.message)));
  const host = box.vmHostId ? await deps.db.host.findUnique({ where: { id: box.vmHostId }, select: { id: true, name: true } }) : null;
  const jobId = await deps.jobs.enqueue(mountApplyRecipe, { box: { id: box.id, name: box.name }, host, actor: user, params: {}, exclusive: mountsExclusive(box) });
  return { jobId };
}

export async function measureMounts(deps: { db: Db; jobs: JobRunner }, user: SessionUser, input: z.input<typeof measureInput>) {
  const { boxId, ...params } = input;
  const box = await editableBox(deps.db, user, boxId);
  const jobId = await deps.jobs.enqueue(measureRecipe, { box: { id: box.id, name: box.name }, actor: user, params, exclusive: mountsExclusive(box) });
  return { jobId };
}

/** "Write back now" in the UI: rule 2 on demand. */
export async function writeBackNow(deps: { db: Db; remote: BoxRemote }, user: SessionUser, boxId: string) {
  const box = await editableBox(deps.db, user, boxId);
  const result = await writeBackDelegatedMounts(deps, user, boxId);
  await recordAudit(deps.db, { actor: user, action: 'mounts.write-back', box: { id: box.id, name: box.name }, detail: { ...result }, result: 'ok' });
  return result;
}

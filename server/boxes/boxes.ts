import { z } from 'zod';
import { boxStatuses, tag, type createBoxInput, type updateBoxInput, type BoxStatus } from '../../lib/validation';
import { matchesBoxFilter } from '../../lib/box-filter';
import { recordAudit } from '../audit/audit';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { credentialSecret, decryptCredentials } from '../ssh/credentials';
import type { HostKeyInfo } from '../ssh/hostkey';
import { reachableBoxes, type SessionUser } from './access';
import type { BoxFacts } from './facts';

/** The pin columns of a box that is pinned afresh on its next connection (a new address, a new VM). */
export const unpinned = {
  hostKeyFingerprint: null,
  hostKeyAlgorithm: null,
  hostKeyBlob: null,
  hostKeyPinnedAt: null,
  offeredHostKeyFingerprint: null,
  offeredHostKeyBlob: null,
} as const;

type BoxRow = NonNullable<Awaited<ReturnType<Db['box']['findFirst']>>>;
const withPeople = {
  owner: { select: { id: true, email: true, name: true } },
  members: { select: { user: { select: { id: true, email: true, name: true } } } },
} as const;
type BoxWithPeople = BoxRow & {
  owner: { id: string; email: string; name: string };
  members: { user: { id: string; email: string; name: string } }[];
};

/** What the browser may see of a box: everything but the credentials. */
export function toBoxView(box: BoxWithPeople) {
  return {
    id: box.id,
    name: box.name,
    host: box.host,
    port: box.port,
    sshUser: box.sshUser,
    kind: box.kind,
    /** A VM on a hypervisor host: connecting to it wakes it. */
    isVm: box.vmHostId !== null,
    notes: box.notes,
    tags: JSON.parse(box.tags) as string[],
    owner: box.owner,
    members: box.members.map((m) => m.user),
    authMethod: box.authMethod,
    hostKey: box.hostKeyFingerprint
      ? { fingerprint: box.hostKeyFingerprint, algorithm: box.hostKeyAlgorithm, pinnedAt: box.hostKeyPinnedAt }
      : null,
    offeredHostKeyFingerprint: box.offeredHostKeyFingerprint,
    status: box.status as BoxStatus,
    statusMessage: box.statusMessage,
    statusCheckedAt: box.statusCheckedAt,
    facts: box.facts ? (JSON.parse(box.facts) as BoxFacts) : null,
    factsAt: box.factsAt,
    createdAt: box.createdAt,
    updatedAt: box.updatedAt,
  };
}
export type BoxView = ReturnType<typeof toBoxView>;

export const boxFilterInput = z.object({ search: z.string().max(200).optional(), status: z.enum(boxStatuses).optional(), tag: tag.optional() });
export type BoxFilter = z.output<typeof boxFilterInput>;

export async function listBoxes(db: Db, user: SessionUser, filter: BoxFilter = {}): Promise<BoxView[]> {
  const rows = await db.box.findMany({
    where: { AND: [await reachableBoxes(db, user), filter.status ? { status: filter.status } : {}] },
    include: withPeople,
    orderBy: { name: 'asc' },
  });
  // Tags are a JSON column (portable across SQLite and PostgreSQL), so tag and text search run here (the rule the
  // fleet page filters with too); a team's fleet is tens to hundreds of rows.
  return rows.map(toBoxView).filter((box) => matchesBoxFilter(box, filter));
}

/**
 * A box as the fleet table shows it: the columns, what its filters look at, and nothing else (people, host keys and
 * timestamps are on the box page). 500 boxes come to about a third of `listBoxes`'s bytes, and no members join.
 */
export interface FleetBoxView {
  id: string;
  name: string;
  host: string;
  port: number;
  sshUser: string;
  notes: string;
  tags: string[];
  owner: { email: string };
  status: BoxStatus;
  statusMessage: string;
  facts: (Pick<BoxFacts, 'kernel' | 'arch' | 'cpus' | 'memoryTotalBytes' | 'diskFreeBytes' | 'docker'> & { os: Pick<BoxFacts['os'], 'id' | 'name'> }) | null;
}

/** The fleet table's rows: the boxes the user may reach, by name. */
export async function listFleet(db: Db, user: SessionUser): Promise<FleetBoxView[]> {
  const rows = await db.box.findMany({
    where: await reachableBoxes(db, user),
    select: { id: true, name: true, host: true, port: true, sshUser: true, notes: true, tags: true, status: true, statusMessage: true, facts: true, owner: { select: { email: true } } },
    orderBy: { name: 'asc' },
  });
  return rows.map(({ tags, status, facts, ...box }) => {
    const f = facts ? (JSON.parse(facts) as BoxFacts) : null;
    return {
      ...box,
      tags: JSON.parse(tags) as string[],
      status: status as BoxStatus,
      facts: f && { os: { id: f.os.id, name: f.os.name }, kernel: f.kernel, arch: f.arch, cpus: f.cpus, memoryTotalBytes: f.memoryTotalBytes, diskFreeBytes: f.diskFreeBytes, docker: f.docker },
    };
  });
}

/** The box if the user may reach it. Unknown and forbidden look the same, so ids cannot be probed. */
export async function getBoxRow(db: Db, user: SessionUser, id: string): Promise<BoxWithPeople> {
  const box = await db.box.findFirst({ where: { AND: [{ id }, await reachableBoxes(db, user)] }, include: withPeople });
  if (!box) throw new AppError('NOT_FOUND', 'No such box, or you do not have access to it.');
  return box;
}

export async function getBox(db: Db, user: SessionUser, id: string): Promise<BoxView> {
  return toBoxView(await getBoxRow(db, user, id));
}

type CreateBox = z.output<typeof createBoxInput>;
type UpdateBox = z.output<typeof updateBoxInput>;

async function ensureNameFree(db: Db, name: string, exceptId?: string) {
  const clash = await db.box.findUnique({ where: { name }, select: { id: true } });
  if (clash && clash.id !== exceptId) throw new AppError('CONFLICT', `The name "${name}" is already taken; choose another.`);
}

async function ensureUsersExist(db: Db, ids: string[]) {
  const unique = [...new Set(ids)];
  const found = await db.user.count({ where: { id: { in: unique } } });
  if (found !== unique.length) throw new AppError('BAD_INPUT', 'An owner or member does not exist any more; reload and pick again.');
}

export async function createBox(db: Db, secrets: SecretBox, actor: SessionUser, input: CreateBox): Promise<BoxView> {
  await ensureNameFree(db, input.name);
  const ownerId = input.ownerId ?? actor.id;
  await ensureUsersExist(db, [ownerId, ...input.memberIds]);
  const secret = credentialSecret(input.auth);
  const created = await db.$transaction(async (tx) => {
    const box = await tx.box.create({
      data: {
        name: input.name,
        host: input.host,
        port: input.port,
        sshUser: input.sshUser,
        tags: JSON.stringify([...new Set(input.tags)]),
        notes: input.notes,
        ownerId,
        authMethod: input.auth.method,
        members: { create: [...new Set(input.memberIds)].filter((id) => id !== ownerId).map((userId) => ({ userId })) },
      },
    });
    // The ciphertext is bound to the box id, which exists only now.
    if (secret !== null) {
      await tx.box.update({ where: { id: box.id }, data: { secretCipher: secrets.encrypt(secret, `box:${box.id}`) } });
    }
    return box;
  });
  return getBox(db, actor, created.id);
}

/**
 * Changes the fields given and nothing else (`updateBoxInput` has no defaults). A different host or port is a new
 * machine as far as trust goes: its pinned key is dropped, to be pinned afresh on first contact, and that is audited.
 * The same host and port sent again keep the pin.
 */
export async function updateBox(db: Db, secrets: SecretBox, actor: SessionUser, input: UpdateBox): Promise<BoxView> {
  const current = await getBoxRow(db, actor, input.id);
  if (input.name !== undefined) await ensureNameFree(db, input.name, current.id);
  const ownerId = input.ownerId ?? current.ownerId;
  if (input.ownerId !== undefined || input.memberIds !== undefined) await ensureUsersExist(db, [ownerId, ...(input.memberIds ?? [])]);
  const address = { host: input.host ?? current.host, port: input.port ?? current.port };
  const addressChanged = address.host !== current.host || address.port !== current.port;
  const secret = input.auth ? credentialSecret(input.auth) : null;
  await db.$transaction(async (tx) => {
    await tx.box.update({
      where: { id: current.id },
      data: {
        name: input.name,
        host: input.host,
        port: input.port,
        sshUser: input.sshUser,
        notes: input.notes,
        ownerId: input.ownerId,
        tags: input.tags !== undefined ? JSON.stringify([...new Set(input.tags)]) : undefined,
        ...(input.auth
          ? { authMethod: input.auth.method, secretCipher: secret === null ? null : secrets.encrypt(secret, `box:${current.id}`) }
          : {}),
        ...(addressChanged ? { ...unpinned, status: 'unknown', statusMessage: '' } : {}),
      },
    });
    if (input.memberIds !== undefined) {
      await tx.boxMember.deleteMany({ where: { boxId: current.id } });
      const members = [...new Set(input.memberIds)].filter((id) => id !== ownerId);
      if (members.length) await tx.boxMember.createMany({ data: members.map((userId) => ({ boxId: current.id, userId })) });
    }
  });
  if (addressChanged && current.hostKeyFingerprint !== null) {
    await recordAudit(db, {
      actor,
      action: 'box.hostkey.reset',
      box: { id: current.id, name: input.name ?? current.name },
      detail: { fingerprint: current.hostKeyFingerprint, from: { host: current.host, port: current.port }, to: address },
      result: 'ok',
    });
  }
  return getBox(db, actor, current.id);
}

export async function deleteBox(db: Db, actor: SessionUser, id: string): Promise<BoxView> {
  const box = await getBox(db, actor, id);
  await db.box.deleteMany({ where: { id } });
  return box;
}

/** Stored credentials of a box, decrypted for the SSH layer only. */
export function boxCredentials(box: BoxRow, secrets: SecretBox) {
  return decryptCredentials(box, secrets, `box:${box.id}`);
}

export async function recordStatus(
  db: Db,
  boxId: string,
  status: BoxStatus,
  message: string,
  extra: { offeredHostKey?: HostKeyInfo | null; facts?: BoxFacts } = {},
) {
  // updateMany: the box may have been deleted while we talked to it; that is not an error.
  await db.box.updateMany({
    where: { id: boxId },
    data: {
      status,
      statusMessage: message,
      statusCheckedAt: new Date(),
      ...(extra.offeredHostKey !== undefined
        ? { offeredHostKeyFingerprint: extra.offeredHostKey?.fingerprint ?? null, offeredHostKeyBlob: extra.offeredHostKey?.blob ?? null }
        : {}),
      ...(extra.facts ? { facts: JSON.stringify(extra.facts), factsAt: new Date() } : {}),
    },
  });
}

import type { z } from 'zod';
import type { SecretBox } from '../crypto/secret-box';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import type { HypervisorKind } from '../hypervisors/driver';
import { capabilitiesOf } from '../hypervisors/factory';
import type { createHostInput } from '../../lib/validation';
import { credentialSecret, decryptCredentials } from '../ssh/credentials';
import { parseShareRoots } from './share-roots';

export type HostRow = NonNullable<Awaited<ReturnType<Db['host']['findUnique']>>>;
type CreateHost = z.output<typeof createHostInput>;

/** What the browser may see of a host: everything but the credentials. */
export function toHostView(host: HostRow) {
  return {
    id: host.id,
    name: host.name,
    kind: host.kind as HypervisorKind,
    /** What its driver can do: the browser asks this rather than the kind (e.g. whether it has VMs). */
    capabilities: capabilitiesOf(host.kind),
    host: host.host,
    port: host.port,
    sshUser: host.sshUser,
    authMethod: host.authMethod,
    hostKey: host.hostKeyFingerprint
      ? { fingerprint: host.hostKeyFingerprint, algorithm: host.hostKeyAlgorithm, pinnedAt: host.hostKeyPinnedAt }
      : null,
    offeredHostKeyFingerprint: host.offeredHostKeyFingerprint,
    hypervisorVersion: host.hypervisorVersion,
    /** Folders box owners may share into their VMs on this host (server/hosts/share-roots.ts). */
    shareRoots: parseShareRoots(host.shareRoots),
    lastError: host.lastError,
    lastCheckedAt: host.lastCheckedAt,
    createdAt: host.createdAt,
    updatedAt: host.updatedAt,
  };
}
export type HostView = ReturnType<typeof toHostView>;

// Hosts are admin only: the callers (tRPC adminProcedure) check the role; these functions trust them.

export async function listHosts(db: Db): Promise<HostView[]> {
  const rows = await db.host.findMany({ orderBy: { name: 'asc' } });
  return rows.map(toHostView);
}

export async function getHostRow(db: Db, id: string): Promise<HostRow> {
  const host = await db.host.findUnique({ where: { id } });
  if (!host) throw new AppError('NOT_FOUND', 'No such host; it may have been deleted.');
  return host;
}

export async function getHost(db: Db, id: string): Promise<HostView> {
  return toHostView(await getHostRow(db, id));
}

export async function createHost(db: Db, secrets: SecretBox, input: CreateHost): Promise<HostView> {
  const clash = await db.host.findUnique({ where: { name: input.name }, select: { id: true } });
  if (clash) throw new AppError('CONFLICT', `The name "${input.name}" is already taken; choose another.`);
  const secret = credentialSecret(input.auth);
  const created = await db.$transaction(async (tx) => {
    const host = await tx.host.create({
      data: { name: input.name, kind: input.kind, host: input.host, port: input.port, sshUser: input.sshUser, authMethod: input.auth.method },
    });
    // The ciphertext is bound to the host id, which exists only now.
    if (secret !== null) {
      return tx.host.update({ where: { id: host.id }, data: { secretCipher: secrets.encrypt(secret, `host:${host.id}`) } });
    }
    return host;
  });
  return toHostView(created);
}

export async function deleteHost(db: Db, id: string): Promise<HostView> {
  const host = await getHost(db, id);
  await db.host.deleteMany({ where: { id } });
  return host;
}

/** Stored credentials of a host, decrypted for the SSH layer only. */
export function hostCredentials(host: HostRow, secrets: SecretBox) {
  return decryptCredentials(host, secrets, `host:${host.id}`);
}

/** Records the outcome of the last contact; updateMany because the host may have been deleted meanwhile. */
export async function recordHostCheck(db: Db, hostId: string, outcome: { error: string | null; version?: string; offeredHostKeyFingerprint?: string | null }) {
  await db.host.updateMany({
    where: { id: hostId },
    data: {
      lastError: outcome.error,
      lastCheckedAt: new Date(),
      ...(outcome.version !== undefined ? { hypervisorVersion: outcome.version } : {}),
      ...(outcome.offeredHostKeyFingerprint !== undefined ? { offeredHostKeyFingerprint: outcome.offeredHostKeyFingerprint } : {}),
    },
  });
}

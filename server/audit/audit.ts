import type { Db } from '../db/client';
import { logger } from '../log';

/** Who did it; `null` id means the dashboard itself (status checks, scheduled work). */
export interface Actor {
  id: string | null;
  email: string | null;
}

/** The dashboard itself as the actor: its status checks, host-key pinning on first contact, scheduled work. */
export const systemActor: Actor = Object.freeze({ id: null, email: null });

/**
 * Every action written to the audit log (AuditEvent.action), by area. The SSH ones carry the command's purpose,
 * e.g. "ssh.exec.facts" or "ssh.exec.host.vms". The audit page filters by prefix ("box." finds every box action).
 */
export type AuditAction =
  | 'box.create'
  | 'box.update'
  | 'box.delete'
  | 'box.import-vm'
  | 'box.status'
  | 'box.hostkey.pin'
  | 'box.hostkey.repin'
  /** A box's pinned key was dropped because its host or port changed (the next contact pins afresh). */
  | 'box.hostkey.reset'
  | 'box.autosuspend'
  | 'box.autosuspend.warn'
  | 'box.resume.on-demand'
  | 'box.sampler.upload'
  | 'host.create'
  | 'host.delete'
  | 'host.hostkey.pin'
  | 'host.share-roots'
  | 'user.create'
  | 'user.role'
  | 'user.delete'
  | 'profile.key.add'
  | 'profile.key.remove'
  | 'profile.token.create'
  | 'profile.token.revoke'
  | 'job.enqueue'
  | 'job.cancel'
  | 'job.finish'
  | 'mounts.save'
  | 'mounts.write-back'
  | 'metrics.settings'
  | 'metrics.token.rotate'
  | 'metrics.policy.save'
  | 'metrics.policy.delete'
  | 'terminal.open'
  | 'terminal.close'
  | 'tunnel.open'
  | 'tunnel.close'
  /** A preview exchange redeemed (once per code, not per request), and port shares changed (server/previews). */
  | 'preview.open'
  | 'preview.share'
  | 'preview.unshare'
  | 'preview.settings'
  /** A tRPC request refused as a whole before any procedure ran (too many calls without a session). */
  | 'api.batch.refused'
  | 'cli.boxes'
  | 'cli.login'
  | 'cli.login.approve'
  | 'cli.login.deny'
  | 'cli.logout'
  | 'auth.signin.throttled'
  | 'http.origin.refused'
  | `ssh.exec.host.${string}`
  | `ssh.exec.${string}`;

export interface AuditEntry {
  actor: Actor;
  action: AuditAction;
  box?: { id: string; name: string } | null;
  /** Details such as the command line or the changed fields. Never secrets. */
  detail?: Record<string, unknown>;
  result: 'ok' | 'error';
  error?: string;
}

/** Appends to the audit log. A failure to audit is logged, never hidden, but does not undo the action. */
export async function recordAudit(db: Db, entry: AuditEntry): Promise<void> {
  try {
    await db.auditEvent.create({
      data: {
        actorId: entry.actor.id,
        actorEmail: entry.actor.email,
        action: entry.action,
        boxId: entry.box?.id ?? null,
        boxName: entry.box?.name ?? null,
        detail: JSON.stringify(entry.detail ?? {}),
        result: entry.result,
        error: entry.error ?? null,
      },
    });
  } catch (error) {
    logger.error({ err: error, entry }, 'could not write an audit event');
  }
}

export interface AuditQuery {
  cursor?: string;
  limit: number;
  boxId?: string;
  action?: string;
  actorEmail?: string;
}

export async function listAudit(db: Db, query: AuditQuery) {
  const rows = await db.auditEvent.findMany({
    where: {
      boxId: query.boxId,
      action: query.action ? { startsWith: query.action } : undefined,
      actorEmail: query.actorEmail,
    },
    orderBy: [{ at: 'desc' }, { id: 'desc' }],
    take: query.limit + 1,
    ...(query.cursor ? { cursor: { id: query.cursor }, skip: 1 } : {}),
  });
  const items = rows.slice(0, query.limit).map((row) => ({ ...row, detail: JSON.parse(row.detail) as unknown }));
  return { items, nextCursor: rows.length > query.limit ? items[items.length - 1]?.id : undefined };
}

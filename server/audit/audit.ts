import type { Db } from '../db/client';
import { AppError } from '../errors';
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
  | 'user.require-new-password'
  /** A user chose a new password (better-auth's change-password). */
  | 'user.password.change'
  /** The identity provider's groups claim, at a sign-in, added the user to groups or took them out. */
  | 'user.groups.provider'
  /** The identity provider's groups claim, at a sign-in, changed the user's role (OIDC_ADMIN_GROUP). */
  | 'user.role.provider'
  | 'group.create'
  | 'group.save'
  | 'group.delete'
  /** A sign-in (detail: method "password" or "oidc", provider, address), or a failed one (result "error"). */
  | 'auth.signin'
  /** A provider account joined to the existing account with the same verified email at its first sign-in. */
  | 'auth.account.link'
  /** An admin turned password sign-in on or off (or the recovery script turned it on). */
  | 'auth.password-signin'
  /** A browser session ended by its user or an admin (detail: whose, which device). */
  | 'auth.session.end'
  /** An admin ended every session and API token of a user. */
  | 'auth.sessions.end-all'
  | 'profile.key.add'
  | 'profile.key.remove'
  | 'profile.token.create'
  | 'profile.token.revoke'
  | 'job.enqueue'
  | 'job.cancel'
  /** A new job with a finished one's parameters. */
  | 'job.retry'
  | 'job.finish'
  | 'mounts.save'
  | 'mounts.write-back'
  | 'audit.export'
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

/**
 * The audit page's filters, all optional and combined: who (an email; null for the dashboard itself), a box, a host
 * (named in the detail: hosts have no column of their own), an action prefix ("box." finds every box action), the
 * result, and a time range (from inclusive, to exclusive).
 */
export interface AuditFilter {
  actorEmail?: string | null;
  boxId?: string;
  hostId?: string;
  action?: string;
  result?: 'ok' | 'error';
  from?: Date;
  to?: Date;
}

function auditWhere(filter: AuditFilter) {
  return {
    AND: [
      filter.actorEmail !== undefined ? { actorEmail: filter.actorEmail } : {},
      filter.boxId ? { boxId: filter.boxId } : {},
      // recordAudit writes JSON.stringify(detail): a host's id is always written as "hostId":"<id>".
      filter.hostId ? { detail: { contains: JSON.stringify({ hostId: filter.hostId }).slice(1, -1) } } : {},
      filter.action ? { action: { startsWith: filter.action } } : {},
      filter.result ? { result: filter.result } : {},
      filter.from || filter.to ? { at: { ...(filter.from ? { gte: filter.from } : {}), ...(filter.to ? { lt: filter.to } : {}) } } : {},
    ],
  };
}

type AuditRow = NonNullable<Awaited<ReturnType<Db['auditEvent']['findFirst']>>>;
const auditOrder = [{ at: 'desc' as const }, { id: 'desc' as const }];

function auditView(row: AuditRow) {
  return { ...row, detail: JSON.parse(row.detail) as Record<string, unknown> };
}

/** One numbered page of the filtered events, newest first, with how many match in all. */
export async function pageAudit(db: Db, filter: AuditFilter, page: { page: number; pageSize: number }) {
  const where = auditWhere(filter);
  const [total, rows] = await Promise.all([
    db.auditEvent.count({ where }),
    db.auditEvent.findMany({ where, orderBy: auditOrder, skip: (page.page - 1) * page.pageSize, take: page.pageSize }),
  ]);
  return { items: rows.map(auditView), total, page: page.page, pageCount: Math.max(1, Math.ceil(total / page.pageSize)) };
}

/** The most events one export holds; a filter matching more is refused with the count, never cut short. */
export const AUDIT_EXPORT_MAX_ROWS = 10_000;
export const auditExportFormats = ['csv', 'json'] as const;
export type AuditExportFormat = (typeof auditExportFormats)[number];
const csvColumns = ['at', 'actorEmail', 'action', 'boxId', 'boxName', 'result', 'error', 'detail'] as const;

/** A CSV cell: quoted when it must be; a leading = + - @ is escaped, so a spreadsheet never runs a cell as a formula. */
function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * Every event the filter matches (exactly the rows the page shows, all pages), newest first, as CSV or JSON;
 * the export itself is audited, with its filter and row count.
 */
export async function exportAudit(db: Db, actor: Actor, filter: AuditFilter, format: AuditExportFormat) {
  const where = auditWhere(filter);
  const total = await db.auditEvent.count({ where });
  if (total > AUDIT_EXPORT_MAX_ROWS) {
    throw new AppError('BAD_INPUT', `The filter matches ${total} events and an export holds at most ${AUDIT_EXPORT_MAX_ROWS}; narrow it (a shorter time range, one user or box).`);
  }
  const rows = (await db.auditEvent.findMany({ where, orderBy: auditOrder, take: AUDIT_EXPORT_MAX_ROWS })).map(auditView);
  const content =
    format === 'json'
      ? JSON.stringify(rows, null, 2)
      : [
          csvColumns.join(','),
          ...rows.map((row) =>
            csvColumns
              .map((column) => {
                const value = column === 'at' ? row.at.toISOString() : column === 'detail' ? JSON.stringify(row.detail) : (row[column] ?? '');
                return csvCell(value);
              })
              .join(','),
          ),
        ].join('\r\n') + '\r\n';
  await recordAudit(db, { actor, action: 'audit.export', detail: { format, rows: rows.length, filter: { ...filter } }, result: 'ok' });
  const stamp = new Date().toISOString().replaceAll(':', '-').replace(/\..*$/, '');
  return { filename: `boxyard-audit-${stamp}.${format}`, mimeType: format === 'json' ? 'application/json' : 'text/csv', rows: rows.length, content };
}

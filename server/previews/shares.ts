import { recordAudit } from '../audit/audit';
import type { SessionUser } from '../boxes/access';
import type { AccessWatch } from '../boxes/access-watch';
import { getBoxRow } from '../boxes/boxes';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { publicSharingAllowed, setPublicSharingAllowed, type ShareLevel } from './access';
import type { PreviewService } from './service';

export interface ShareDeps {
  db: Db;
  access: AccessWatch;
  previews: PreviewService;
}

export interface PortShareView {
  port: number;
  level: ShareLevel;
  createdAt: Date;
  /** The revocable link of a public share (anyone who has it may open the port). */
  link: string | null;
}

/** The box, if `actor` may change who sees its ports: its owner, or an admin. */
async function sharableBox(db: Db, actor: SessionUser, boxId: string) {
  const box = await getBoxRow(db, actor, boxId);
  if (actor.role !== 'admin' && box.ownerId !== actor.id) throw new AppError('FORBIDDEN', `Only the owner of ${box.name} (or an admin) may share its ports.`);
  return box;
}

/** A box's shared ports; a public share's link only for those who may revoke it (its owner, admins). */
export async function listShares(deps: ShareDeps, actor: SessionUser, boxId: string, linkOf: (box: string, port: number, shareId: string) => string): Promise<PortShareView[]> {
  const box = await getBoxRow(deps.db, actor, boxId);
  const mayShare = actor.role === 'admin' || box.ownerId === actor.id;
  const rows = await deps.db.portShare.findMany({ where: { boxId: box.id }, orderBy: { port: 'asc' } });
  return rows.map((row) => ({ port: row.port, level: row.level as ShareLevel, createdAt: row.createdAt, link: row.level === 'public' && mayShare ? linkOf(box.name, row.port, row.id) : null }));
}

/** Shares a port wider than the box's people (or changes how wide); public only while an admin allows it. Audited. */
export async function shareBoxPort(deps: ShareDeps, actor: SessionUser, boxId: string, port: number, level: ShareLevel): Promise<void> {
  const box = await sharableBox(deps.db, actor, boxId);
  if (level === 'public' && !(await publicSharingAllowed(deps.db))) throw new AppError('FORBIDDEN', 'Public sharing is off on this dashboard; an admin can allow it in the settings.');
  await deps.db.portShare.upsert({
    where: { boxId_port: { boxId: box.id, port } },
    create: { boxId: box.id, port, level, createdById: actor.id },
    update: { level },
  });
  await recordAudit(deps.db, { actor, action: 'preview.share', box, detail: { port, level }, result: 'ok' });
  // Public -> signed-in users: link viewers lose it now.
  deps.previews.forgetChecks();
  await deps.access.recheckNow();
}

/** Makes a port private again: whoever had it through the share loses it at once, open WebSockets included. Audited. */
export async function revokeShare(deps: ShareDeps, actor: SessionUser, boxId: string, port: number): Promise<void> {
  const box = await sharableBox(deps.db, actor, boxId);
  const removed = await deps.db.portShare.deleteMany({ where: { boxId: box.id, port } });
  if (removed.count === 0) throw new AppError('NOT_FOUND', `Port ${port} of ${box.name} is not shared.`);
  await recordAudit(deps.db, { actor, action: 'preview.unshare', box, detail: { port }, result: 'ok' });
  deps.previews.forgetChecks();
  await deps.access.recheckNow();
}

/**
 * An admin allows or forbids public links. Forbidding keeps the public shares (allowing again revives their links)
 * but ends every link viewer's previews now. Audited.
 */
export async function setPublicSharing(deps: ShareDeps, actor: SessionUser, allowed: boolean): Promise<void> {
  await setPublicSharingAllowed(deps.db, allowed);
  await recordAudit(deps.db, { actor, action: 'preview.settings', detail: { publicSharing: allowed }, result: 'ok' });
  deps.previews.forgetChecks();
  await deps.access.recheckNow();
}

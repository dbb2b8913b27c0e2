import { reachableBoxes, sessionUserOf } from '../boxes/access';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import type { PreviewGrant } from './tickets';

/** Every signed-in user, or anyone with the link (only while an admin allows public sharing). */
export type ShareLevel = 'authenticated' | 'public';

const PUBLIC_SHARING_KEY = 'previews.public-sharing';

export async function publicSharingAllowed(db: Db): Promise<boolean> {
  return (await db.setting.findUnique({ where: { key: PUBLIC_SHARING_KEY } }))?.value === 'true';
}

export async function setPublicSharingAllowed(db: Db, allowed: boolean): Promise<void> {
  const value = String(allowed);
  await db.setting.upsert({ where: { key: PUBLIC_SHARING_KEY }, create: { key: PUBLIC_SHARING_KEY, value }, update: { value } });
}

/** The one "not found" of previews: unknown box, unknown port, or not theirs. */
export const previewNotFound = () => new AppError('NOT_FOUND', 'No such box or port, or you may not open it.');

/**
 * Whether the viewer of `grant` may still reach its box's port: the box exists; a signed-in viewer's dashboard
 * session is still live and they own, are a member of, or administer the box, or the port is shared with every
 * signed-in user; a link viewer's public share still exists and public sharing is still allowed. Throws the
 * AppError that says why not (the AccessWatch closes what is open with it).
 */
export async function checkGrant(db: Db, grant: PreviewGrant): Promise<void> {
  const share = await db.portShare.findUnique({ where: { boxId_port: { boxId: grant.boxId, port: grant.port } } });
  if (grant.userId) {
    if (grant.sessionId) {
      const session = await db.session.findUnique({ where: { id: grant.sessionId }, select: { userId: true, expiresAt: true } });
      if (!session || session.userId !== grant.userId || session.expiresAt.getTime() < Date.now()) {
        throw new AppError('UNAUTHENTICATED', 'You were signed out of the dashboard; sign in again to open previews.');
      }
    }
    const user = await db.user.findUnique({ where: { id: grant.userId } });
    if (!user) throw new AppError('UNAUTHENTICATED', 'Your account was removed from this dashboard.');
    const reachable = await db.box.findFirst({ where: { AND: [{ id: grant.boxId }, await reachableBoxes(db, sessionUserOf(user))] }, select: { id: true } });
    if (reachable || share) return;
    throw previewNotFound();
  }
  if (grant.shareId && share?.id === grant.shareId && share.level === 'public' && (await publicSharingAllowed(db))) return;
  throw previewNotFound();
}

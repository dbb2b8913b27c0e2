import type { IncomingMessage } from 'node:http';
import { reachableBoxes, type SessionUser } from '../boxes/access';
import type { AccessRecheck } from '../boxes/access-watch';
import { AppError } from '../errors';
import type { SocketRouteDeps } from './identity';

/**
 * The recheck of something a WebSocket opened on a box (a terminal, a tunnel): the request's credentials (cookie or
 * API token) are identified again and the box is looked up with that user's access, as when it was opened. The
 * AccessWatch runs it every 2 s; what it throws is the close reason the browser shows and the CLI prints, so each
 * way access goes away gets its own sentence. Naming the box is no leak: the user opened it under that name.
 */
export function recheckAccess(deps: Pick<SocketRouteDeps, 'db' | 'identify'>, req: IncomingMessage, user: SessionUser, box: { id: string; name: string }): AccessRecheck {
  return async () => {
    const identity = await deps.identify(req);
    if (!identity.user) {
      const account = await deps.db.user.findUnique({ where: { id: user.id }, select: { id: true } });
      if (!account) throw new AppError('UNAUTHENTICATED', 'Your account was removed from this dashboard.');
      switch (identity.refusal) {
        case 'no-credentials':
          throw new AppError('UNAUTHENTICATED', 'You were signed out (your session ended or was revoked); sign in again.');
        case 'password-change-pending':
          throw new AppError('UNAUTHENTICATED', 'An admin asked you to choose a new password: choose it on the dashboard, then open this again.');
        default:
          throw new AppError('UNAUTHENTICATED', 'Your API token was revoked; make a new one on your profile page.');
      }
    }
    if (identity.user.id !== user.id) throw new AppError('UNAUTHENTICATED', 'You are signed in as someone else now.');
    const reachable = await deps.db.box.findFirst({ where: { AND: [{ id: box.id }, await reachableBoxes(deps.db, identity.user)] }, select: { id: true } });
    if (reachable) return;
    const exists = await deps.db.box.findUnique({ where: { id: box.id }, select: { id: true } });
    if (exists) throw new AppError('FORBIDDEN', `Your access to ${box.name} was removed.`);
    throw new AppError('NOT_FOUND', `${box.name} was deleted.`);
  };
}

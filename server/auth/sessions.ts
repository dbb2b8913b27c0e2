import { deviceOf } from '../../lib/user-agent';
import { recordAudit, type Actor } from '../audit/audit';
import type { Db } from '../db/client';
import { AppError } from '../errors';

/**
 * A user's browser sessions (better-auth's session rows), seen and ended by their user, and all of them with every API
 * token by an admin. Ending a session deletes its row: the next identify() of its cookie finds nothing, so the
 * AccessWatch's recheck ends the terminals and tunnels opened with it (the caller asks for that recheck at once).
 */
export async function listSessions(db: Db, userId: string) {
  const rows = await db.session.findMany({
    where: { userId, expiresAt: { gt: new Date() } },
    select: { id: true, createdAt: true, updatedAt: true, ipAddress: true, userAgent: true },
    orderBy: { updatedAt: 'desc' },
  });
  return rows.map((row) => ({
    id: row.id,
    device: deviceOf(row.userAgent),
    address: row.ipAddress,
    signedInAt: row.createdAt,
    // better-auth refreshes a session's row when it extends it (session.updateAge): when it was last in use, to a day
    lastSeenAt: row.updatedAt,
  }));
}

/** Ends one of the actor's own sessions (another user's is as unknown as a made-up id). */
export async function endSession(db: Db, actor: Actor & { id: string }, sessionId: string) {
  const session = await db.session.findFirst({ where: { id: sessionId, userId: actor.id }, select: { id: true, userAgent: true, ipAddress: true } });
  if (!session) throw new AppError('NOT_FOUND', 'That session has ended already.');
  await db.session.delete({ where: { id: session.id } });
  await recordAudit(db, { actor, action: 'auth.session.end', detail: { email: actor.email, device: deviceOf(session.userAgent), address: session.ipAddress }, result: 'ok' });
  return { id: session.id };
}

/** An admin ends every browser session of a user and revokes all their API tokens: the CLI and scripts too. */
export async function endAllSessionsOf(db: Db, admin: Actor, userId: string) {
  const user = await db.user.findUnique({ where: { id: userId }, select: { email: true } });
  if (!user) throw new AppError('NOT_FOUND', 'That user does not exist any more.');
  const [sessions, tokens] = await db.$transaction([
    db.session.deleteMany({ where: { userId } }),
    db.apiToken.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date() } }),
  ]);
  await recordAudit(db, { actor: admin, action: 'auth.sessions.end-all', detail: { email: user.email, sessions: sessions.count, tokens: tokens.count }, result: 'ok' });
  return { sessions: sessions.count, tokens: tokens.count };
}

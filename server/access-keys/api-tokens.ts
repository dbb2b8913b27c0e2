import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { sessionUserOf, type SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import { AppError } from '../errors';

/**
 * Personal API tokens, for the CLI (`boxyard connect`). A token is "byd_" + 32 random bytes (base64url), shown once
 * when it is made; only its SHA-256 is stored, so a leaked database does not leak usable tokens. Plain SHA-256 (not a
 * slow password hash) is enough: 256 random bits cannot be guessed, and lookups must be cheap on every request.
 */

export const TOKEN_PREFIX = 'byd_';
/** Shown in lists to tell tokens apart: "byd_" and the first 4 random characters. */
const DISPLAY_PREFIX_LENGTH = 8;

const tokenNameInput = z
  .string()
  .trim()
  .min(1, 'Give the token a name, e.g. "work laptop".')
  .max(100, 'A token name is at most 100 characters.')
  .regex(/^[^\p{Cc}]+$/u, 'A token name is one line of printable characters.');
export const createApiTokenInput = z.object({ name: tokenNameInput });

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const tokenView = { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

export function listApiTokens(db: Db, userId: string) {
  return db.apiToken.findMany({ where: { userId }, select: tokenView, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
}

/** Makes a token; the returned `token` is the only time it exists outside the user's hands. */
export async function createApiToken(db: Db, user: SessionUser, name: string) {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const row = await db.apiToken.create({
    data: { userId: user.id, name, tokenHash: hashToken(token), prefix: token.slice(0, DISPLAY_PREFIX_LENGTH) },
    select: tokenView,
  });
  return { token, apiToken: row };
}

/** Revokes one of the user's own tokens; revoking a revoked token is a no-op. */
export async function revokeApiToken(db: Db, user: SessionUser, id: string) {
  const row = await db.apiToken.findFirst({ where: { id, userId: user.id }, select: tokenView });
  if (!row) throw new AppError('NOT_FOUND', 'No such token.');
  if (row.revokedAt) return row;
  return db.apiToken.update({ where: { id }, data: { revokedAt: new Date() }, select: tokenView });
}

export type TokenCheck = { ok: true; user: SessionUser; tokenId: string } | { ok: false; reason: 'unknown' | 'revoked' };

/**
 * lastUsedAt is written at most this often per token: every tRPC call made with a token, and every access re-check of
 * an open tunnel (seconds apart), authenticates it, and a write each time would be a database write on a hot path.
 */
const LAST_USED_PRECISION_MS = 60_000;

/** Looks a presented token up by its hash; a valid one gets its lastUsedAt set (to the minute). */
export async function authenticateApiToken(db: Db, token: string): Promise<TokenCheck> {
  if (!token.startsWith(TOKEN_PREFIX)) return { ok: false, reason: 'unknown' };
  const row = await db.apiToken.findUnique({
    where: { tokenHash: hashToken(token) },
    select: { id: true, revokedAt: true, lastUsedAt: true, user: { select: { id: true, email: true, name: true, role: true } } },
  });
  if (!row) return { ok: false, reason: 'unknown' };
  if (row.revokedAt) return { ok: false, reason: 'revoked' };
  const now = new Date();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } });
  }
  return { ok: true, tokenId: row.id, user: sessionUserOf(row.user) };
}

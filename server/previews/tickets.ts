import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/client';

/**
 * The two credentials of a preview, neither of them the dashboard's session:
 *
 * - an exchange code: made on the dashboard origin for a signed-in user (or a public link), carried in one redirect
 *   to the preview origin, redeemed there once within CODE_TTL_MS. It is 32 random bytes stored in better-auth's
 *   verification table (so any dashboard process on the database may redeem it) and bound to one box and port;
 * - the preview cookie the redemption sets: host-only on the preview origin (path-scoped in the path form), signed
 *   with a key derived from the dashboard's secret, naming the viewer, the dashboard session it came from, the box,
 *   the port and an expiry. Each request still asks the database whether that viewer may reach the port (access.ts).
 */

/** Who is looking at a preview and how they got in. */
export interface PreviewGrant {
  /** The signed-in viewer; null for someone who came by a public link. */
  userId: string | null;
  /** The dashboard session the exchange started from: signing out there ends the preview. */
  sessionId: string | null;
  /** The public share whose link was followed. */
  shareId: string | null;
  boxId: string;
  port: number;
}

export const CODE_TTL_MS = 60_000;
export const PREVIEW_COOKIE_TTL_MS = 60 * 60_000;
const CODE_PREFIX = 'preview-code:';

export async function issueCode(db: Db, grant: PreviewGrant): Promise<string> {
  const code = randomBytes(32).toString('base64url');
  await db.verification.create({
    data: { id: randomBytes(16).toString('hex'), identifier: CODE_PREFIX + code, value: JSON.stringify(grant), expiresAt: new Date(Date.now() + CODE_TTL_MS) },
  });
  return code;
}

/** The grant of `code` if it is unexpired, unused and for this box and port; it is used up either way. */
export async function redeemCode(db: Db, code: string, target: { boxId: string; port: number }): Promise<PreviewGrant | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(code)) return null;
  const row = await db.verification.findFirst({ where: { identifier: CODE_PREFIX + code } });
  if (!row) return null;
  // Claimed by deleting it: of two redemptions racing, one deletes the row and the other gets 0.
  const claimed = await db.verification.deleteMany({ where: { id: row.id } });
  if (claimed.count !== 1 || row.expiresAt.getTime() < Date.now()) return null;
  const grant = JSON.parse(row.value) as PreviewGrant;
  return grant.boxId === target.boxId && grant.port === target.port ? grant : null;
}

interface CookiePayload extends PreviewGrant {
  expiresAt: number;
}

/** Signs and checks the preview cookie and public share links, with a key derived from the dashboard's secret. */
export class PreviewCookies {
  constructor(private readonly key: string) {}

  seal(grant: PreviewGrant, now = Date.now()): string {
    const payload: CookiePayload = { ...grant, expiresAt: now + PREVIEW_COOKIE_TTL_MS };
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  /** The grant a cookie value carries if its signature holds and it has not expired; null otherwise. */
  open(value: string, now = Date.now()): PreviewGrant | null {
    const [body, signature, ...rest] = value.split('.');
    if (!body || !signature || rest.length) return null;
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as CookiePayload;
    if (payload.expiresAt < now) return null;
    const { expiresAt: _expiresAt, ...grant } = payload;
    return grant;
  }

  /** A public share's link token: the share's id and its signature, so deleting the share revokes every link. */
  linkToken(shareId: string): string {
    return `${shareId}.${this.sign(`share-link:${shareId}`)}`;
  }

  /** The share a link token names if its signature holds. */
  shareOfLink(link: string): string | null {
    const shareId = link.split('.')[0] ?? '';
    const expected = Buffer.from(this.linkToken(shareId));
    const given = Buffer.from(link);
    return shareId && expected.length === given.length && timingSafeEqual(expected, given) ? shareId : null;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

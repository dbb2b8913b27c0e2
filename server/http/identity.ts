import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { fromNodeHeaders } from 'better-auth/node';
import { authenticateApiToken } from '../access-keys/api-tokens';
import type { Auth } from '../auth/auth';
import { sessionUserOf, type SessionUser } from '../boxes/access';
import type { Db } from '../db/client';

/**
 * Who is asking: the one function every edge (tRPC, the CLI API, every WebSocket) uses to turn a request into a
 * SessionUser. A request that carries `Authorization: Bearer ...` is judged by that token alone (a script's token
 * never falls back to a browser cookie); otherwise by the better-auth session cookie. A session whose user must choose
 * a new password is refused everywhere (every edge asks this function), so the admin who set the password cannot use it.
 */
export type Identity =
  | { user: SessionUser; via: 'session' }
  | { user: SessionUser; via: 'api-token'; tokenId: string }
  | { user: null; refusal: 'no-credentials' | 'token-unknown' | 'token-revoked' }
  /** Signed in, but an admin asked for a new password: nothing but choosing one (better-auth) and `users.me` until then. */
  | { user: null; refusal: 'password-change-pending'; pendingUser: SessionUser };

export interface IdentityDeps {
  db: Db;
  auth: Auth;
}

/** What every WebSocket route of the edge needs to admit a socket (the edge checked its Origin already): who asks, the database. */
export interface SocketRouteDeps {
  db: Db;
  identify: (req: IncomingMessage) => Promise<Identity>;
}

export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? '');
  return match ? match[1]! : null;
}

export async function identify(deps: IdentityDeps, headers: IncomingHttpHeaders): Promise<Identity> {
  const token = bearerToken(headers);
  if (token) {
    const check = await authenticateApiToken(deps.db, token);
    if (!check.ok) return { user: null, refusal: check.reason === 'revoked' ? 'token-revoked' : 'token-unknown' };
    return { user: check.user, via: 'api-token', tokenId: check.tokenId };
  }
  const session = await deps.auth.api.getSession({ headers: fromNodeHeaders(headers) });
  if (!session) return { user: null, refusal: 'no-credentials' };
  const user = sessionUserOf(session.user);
  if (session.user.mustChangePassword) return { user: null, refusal: 'password-change-pending', pendingUser: user };
  return { user, via: 'session' };
}

/** What a refused request is told, in words the user can act on. */
export function identityRefusalMessage(refusal: Extract<Identity, { user: null }>['refusal']): string {
  switch (refusal) {
    case 'no-credentials':
      return 'Sign in first (your session may have expired).';
    case 'token-revoked':
      return 'This API token was revoked; make a new one on your profile page.';
    case 'password-change-pending':
      return 'Choose a new password first: an admin asked for one (the dashboard sends you to its password page).';
    case 'token-unknown':
      return 'This API token is not known to this dashboard (mistyped, or made on another dashboard); make one on your profile page.';
  }
}

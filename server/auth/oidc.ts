import type { BetterAuthOptions, BetterAuthPlugin } from 'better-auth';
import { APIError, createAuthMiddleware, isAPIError } from 'better-auth/api';
import { genericOAuth } from 'better-auth/plugins/generic-oauth';
import { decodeJwt } from 'jose';
import { signInErrorCodes, signInErrorSentence } from '../../lib/sign-in-errors';
import { recordAudit } from '../audit/audit';
import type { Db } from '../db/client';
import type { OidcConfig } from '../env';
import { syncProviderGroups } from '../groups/groups';
import { logger } from '../log';
import { passwordSignInEnabled } from './password-sign-in';
import { CLIENT_ADDRESS_HEADER } from './sign-in-limits';

const log = logger.child({ module: 'sign-in' });

/** better-auth's id of the one identity provider: its callback is /api/auth/callback/oidc (README, provider settings). */
export const OIDC_PROVIDER_ID = 'oidc';
const CALLBACK_PATH = '/callback/:id';
const PASSWORD_PATH = '/sign-in/email';
const SOCIAL_PATH = '/sign-in/social';

/** Where a provider's discovery document is, by OpenID Connect Discovery 1.0: under the issuer. */
export const discoveryUrlOf = (issuer: string) => `${issuer}/.well-known/openid-configuration`;

/**
 * Whether the identity provider answers as OIDC_ISSUER says it should: null if so, else the sentence that says what to
 * fix. better-auth fetches the same document itself and trusts the issuer it names; this check is what refuses a
 * provider that names another issuer than the one configured (OpenID Connect Discovery 1.0, section 4.3).
 */
export async function identityProviderProblem(oidc: OidcConfig, timeoutMs = 5_000): Promise<string | null> {
  const url = discoveryUrlOf(oidc.issuer);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    return `The identity provider at ${oidc.issuer} could not be reached (${cause}): check OIDC_ISSUER and that the provider is up.`;
  }
  const document = response.ok ? ((await response.json().catch(() => null)) as { issuer?: unknown } | null) : null;
  if (!document) return `The identity provider at ${oidc.issuer} has no OpenID Connect configuration (HTTP ${response.status} at ${url}): check OIDC_ISSUER.`;
  const issuer = typeof document.issuer === 'string' ? document.issuer.replace(/\/+$/, '') : '';
  if (issuer !== oidc.issuer) return `OIDC_ISSUER is ${oidc.issuer}, but the provider there names its issuer ${issuer || '(none)'}: set OIDC_ISSUER to its issuer.`;
  return null;
}

/** A user's groups as the ID token's claim lists them: a list of names, or one name. */
function groupsOfClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((entry): entry is string => typeof entry === 'string');
  return typeof value === 'string' ? [value] : [];
}

function emailAllowed(oidc: OidcConfig, email: string): boolean {
  const address = email.toLowerCase();
  return oidc.allowedEmails.includes(address) || oidc.allowedDomains.includes(address.split('@').pop() ?? '');
}

type EndpointContext = { path?: string; request?: Request; params?: Record<string, string | undefined> } | null | undefined;
const addressOf = (ctx: EndpointContext) => ctx?.request?.headers.get(CLIENT_ADDRESS_HEADER) ?? null;

/**
 * What single sign-on adds to better-auth (createAuth): its genericOAuth plugin for the one provider (discovery, PKCE,
 * ID tokens verified against the provider's keys, nonce); the allowed-domains rule on account creation; linking a
 * provider account to the existing account of the same verified email; and at each provider sign-in, the user's groups
 * and role from the groups claim. Without OIDC_ISSUER only the password rules (turned off, audited) apply.
 */
export function ssoAuthOptions(options: { db: Db; oidc: OidcConfig | null }) {
  const { db, oidc } = options;

  const signInRules = {
    id: 'boxyard-sign-in-rules',
    hooks: {
      before: [
        {
          matcher: (ctx) => ctx.path === PASSWORD_PATH,
          handler: createAuthMiddleware(async () => {
            if (await passwordSignInEnabled(db)) return;
            throw new APIError('FORBIDDEN', {
              code: 'PASSWORD_SIGN_IN_OFF',
              message: `Password sign-in is turned off on this dashboard; use "Sign in with ${oidc?.providerName ?? 'single sign-on'}".`,
            });
          }),
        },
        ...(oidc
          ? [
              {
                matcher: (ctx: { path?: string }) => ctx.path === SOCIAL_PATH,
                handler: createAuthMiddleware(async (ctx) => {
                  const problem = await identityProviderProblem(oidc);
                  if (!problem) return;
                  log.warn({ address: addressOf(ctx) }, problem);
                  await recordAudit(db, { actor: { id: null, email: null }, action: 'auth.signin', detail: { method: 'oidc', provider: oidc.issuer, address: addressOf(ctx) }, result: 'error', error: problem });
                  throw new APIError('BAD_GATEWAY', { code: 'IDENTITY_PROVIDER_UNAVAILABLE', message: problem });
                }),
              },
            ]
          : []),
      ],
      after: [
        {
          // A failed sign-in: a refused password, or a provider callback that better-auth ends with /login?error=<code>.
          matcher: (ctx) => ctx.path === PASSWORD_PATH || ctx.path === CALLBACK_PATH,
          handler: createAuthMiddleware(async (ctx) => {
            const returned = ctx.context.returned;
            if (!isAPIError(returned)) return;
            const address = addressOf(ctx);
            if (ctx.path === PASSWORD_PATH) {
              if (returned.body?.code === 'SIGN_IN_THROTTLED') return; // audited by the throttle as auth.signin.throttled
              const email = (ctx.body as { email?: unknown } | undefined)?.email;
              await recordAudit(db, { actor: { id: null, email: typeof email === 'string' ? email.slice(0, 254) : null }, action: 'auth.signin', detail: { method: 'password', address }, result: 'error', error: returned.message });
              return;
            }
            const location = new Headers(returned.headers).get('location');
            const code = location ? new URL(location, 'http://boxyard.invalid').searchParams.get('error') : null;
            if (!code) return; // a redirect into the dashboard: the sign-in worked
            const sentence = signInErrorSentence(code);
            log.warn({ code, address }, sentence);
            await recordAudit(db, { actor: { id: null, email: null }, action: 'auth.signin', detail: { method: 'oidc', provider: oidc?.issuer ?? null, address, code }, result: 'error', error: sentence });
          }),
        },
      ],
    },
  } satisfies BetterAuthPlugin;

  const plugins: BetterAuthPlugin[] = [signInRules];
  if (oidc) {
    plugins.push(
      genericOAuth({
        config: [
          {
            providerId: OIDC_PROVIDER_ID,
            name: oidc.providerName,
            discoveryUrl: discoveryUrlOf(oidc.issuer),
            // Without the provider's keys there is no verified ID token: refuse to run on an unverified one.
            requireIdTokenVerification: true,
            clientId: oidc.clientId,
            clientSecret: oidc.clientSecret,
            scopes: oidc.scopes,
            pkce: true,
          },
        ],
      }),
    );
  }

  /** At account creation (a first sign-in) through the provider: only allowed domains and addresses get an account. */
  const validateUserInfo: NonNullable<NonNullable<BetterAuthOptions['user']>['validateUserInfo']> = ({ user, source }) => {
    if (!oidc || source.oauth?.providerId !== OIDC_PROVIDER_ID || source.action !== 'create-user') return;
    if (user.email && emailAllowed(oidc, user.email)) return;
    log.warn({ email: user.email }, signInErrorCodes.email_domain_not_allowed);
    return { error: 'email_domain_not_allowed', errorDescription: signInErrorCodes.email_domain_not_allowed };
  };

  /** Every sign-in that made a session, audited; a provider sign-in also refreshes the user's groups and role. */
  async function sessionCreated(session: { userId: string; ipAddress?: string | null; userAgent?: string | null }, ctx: EndpointContext) {
    const method = ctx?.path === PASSWORD_PATH ? 'password' : ctx?.path === CALLBACK_PATH && ctx.params?.id === OIDC_PROVIDER_ID ? 'oidc' : null;
    if (!method) return;
    const user = await db.user.findUniqueOrThrow({ where: { id: session.userId }, select: { id: true, email: true, role: true } });
    const actor = { id: user.id, email: user.email };
    await recordAudit(db, { actor, action: 'auth.signin', detail: { method, provider: method === 'oidc' ? oidc?.issuer : null, address: session.ipAddress ?? null }, result: 'ok' });
    if (method !== 'oidc' || !oidc?.groupsClaim) return;
    // The ID token better-auth verified in this same callback, stored on the provider account just before the session
    const account = await db.account.findFirst({ where: { userId: user.id, providerId: OIDC_PROVIDER_ID }, select: { idToken: true } });
    const claims = account?.idToken ? decodeJwt(account.idToken) : {};
    await syncProviderGroups(db, user, { groups: groupsOfClaim(claims[oidc.groupsClaim]), adminGroup: oidc.adminGroup });
  }

  /** A provider account added to a user who already had one (their password account): the two are one account now. */
  async function accountCreated(account: { userId: string; providerId: string }) {
    if (account.providerId !== OIDC_PROVIDER_ID) return;
    const others = await db.account.count({ where: { userId: account.userId, providerId: { not: OIDC_PROVIDER_ID } } });
    if (others === 0) return;
    const user = await db.user.findUnique({ where: { id: account.userId }, select: { id: true, email: true } });
    await recordAudit(db, { actor: user ?? { id: account.userId, email: null }, action: 'auth.account.link', detail: { provider: oidc?.issuer ?? null }, result: 'ok' });
  }

  return {
    plugins,
    validateUserInfo,
    /**
     * A local account is made by an admin (there is no public sign-up), so its address is the admin's word; the
     * provider's must be verified (email_verified), as better-auth requires of a provider it is not told to trust.
     */
    accountLinking: { enabled: true, trustedProviders: [], requireLocalEmailVerified: false, allowDifferentEmails: false },
    sessionCreated,
    accountCreated,
  };
}

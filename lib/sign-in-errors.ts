/**
 * Why a sign-in through the identity provider failed, in one sentence for the sign-in page and the log. better-auth
 * ends a failed provider callback with a redirect to /login?error=<code>; the codes below are its own
 * (OAUTH_CALLBACK_ERROR_CODES, its callback's results) and Boxyard's (server/auth/oidc.ts).
 */
export const signInErrorCodes = {
  /** The provider refused the code exchange: almost always the client id or secret. */
  invalid_code: 'The identity provider refused to exchange the sign-in code: check that OIDC_CLIENT_ID and OIDC_CLIENT_SECRET match the client registered at the provider.',
  /** better-auth could not verify the ID token (signature, audience, issuer, expiry or nonce). */
  unable_to_get_user_info: "The identity provider's ID token did not verify (its signature, audience or issuer is wrong): check OIDC_ISSUER and OIDC_CLIENT_ID.",
  issuer_mismatch: 'The sign-in answer came from another issuer than OIDC_ISSUER: check OIDC_ISSUER.',
  nonce_binding_missing: 'The sign-in started too long ago or in another browser; sign in again.',
  state_not_found: 'The sign-in started too long ago or in another browser; sign in again.',
  state_mismatch: 'The sign-in started too long ago or in another browser; sign in again.',
  email_not_found: 'The identity provider did not send an email address: add the "email" scope to OIDC_SCOPES and an address to your account there.',
  account_not_linked: 'An account with your email address exists, but the identity provider has not verified that address, so they are not joined; ask an admin.',
  email_domain_not_allowed: 'Your email address may not make an account on this dashboard; ask an admin to add your domain or address.',
  oauth_provider_not_found: 'Single sign-on is not available right now: the identity provider could not be reached.',
  access_denied: 'You declined the sign-in at the identity provider.',
} as const;

export type SignInErrorCode = keyof typeof signInErrorCodes;

/** The sentence for a code a failed sign-in came back with; a code not listed gets a general one naming it. */
export function signInErrorSentence(code: string): string {
  return Object.hasOwn(signInErrorCodes, code)
    ? signInErrorCodes[code as SignInErrorCode]
    : `Sign-in through the identity provider failed (${code.slice(0, 60)}); try again, or ask an admin to look at the dashboard's log.`;
}

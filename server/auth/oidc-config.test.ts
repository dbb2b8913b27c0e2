// OIDC_ variables are checked at start-up: each mistake is one sentence naming the variable; none set is no SSO.
import { describe, expect, it } from 'vitest';
import { loadEnv } from '../env';

const complete = { OIDC_ISSUER: 'https://login.example.com/realms/team/', OIDC_CLIENT_ID: 'boxyard', OIDC_CLIENT_SECRET: 'secret' };
const problemsOf = (source: Record<string, string>) => {
  try {
    loadEnv(source);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
};

describe('single sign-on configuration', () => {
  it('is off with no OIDC_ variable set, or only their defaults', () => {
    expect(loadEnv({}).oidc).toBeNull();
    expect(loadEnv({ OIDC_SCOPES: 'openid email profile' }).oidc).toBeNull();
  });

  it('reads a complete configuration, lists split and lower-cased, the issuer without its trailing slash', () => {
    expect(loadEnv({ ...complete, OIDC_ALLOWED_DOMAINS: 'Team.example, ops.example', OIDC_ALLOWED_EMAILS: 'Ann@Partner.example', OIDC_GROUPS_CLAIM: 'groups', OIDC_ADMIN_GROUP: 'leads' }).oidc).toEqual({
      issuer: 'https://login.example.com/realms/team',
      clientId: 'boxyard',
      clientSecret: 'secret',
      scopes: ['openid', 'email', 'profile'],
      providerName: 'single sign-on',
      allowedDomains: ['team.example', 'ops.example'],
      allowedEmails: ['ann@partner.example'],
      groupsClaim: 'groups',
      adminGroup: 'leads',
    });
  });

  it.each([
    [{ OIDC_CLIENT_ID: 'boxyard' }, '  OIDC_ISSUER: OIDC_ISSUER is needed for single sign-on (or unset every OIDC_ variable to turn it off).'],
    [{ ...complete, OIDC_CLIENT_SECRET: '' }, "  OIDC_CLIENT_SECRET: OIDC_CLIENT_SECRET is empty: give the client's secret from the provider."],
    [{ ...complete, OIDC_ISSUER: 'login.example.com' }, "  OIDC_ISSUER: OIDC_ISSUER must be the provider's issuer URL, such as https://login.example.com/realms/team."],
    [{ ...complete, OIDC_ADMIN_GROUP: 'leads' }, '  OIDC_ADMIN_GROUP: OIDC_ADMIN_GROUP needs OIDC_GROUPS_CLAIM, the claim that lists the groups (often "groups").'],
    [{ ...complete, OIDC_SCOPES: 'email profile' }, '  OIDC_SCOPES: OIDC_SCOPES must include openid (and email, for the address the account is matched by).'],
    [{ ...complete, OIDC_ALLOWED_DOMAINS: 'team' }, '  OIDC_ALLOWED_DOMAINS: "team" is not a domain such as example.com.'],
    [{ ...complete, OIDC_ALLOWED_EMAILS: 'ann' }, '  OIDC_ALLOWED_EMAILS: "ann" is not an email address.'],
  ])('refuses %o with a sentence', (source, sentence) => {
    expect(problemsOf(source)).toContain(sentence);
  });
});

// Single sign-on against a real OpenID Connect provider (oidc-provider in its own process, testing/helpers/oidc.ts):
// sign-in through its login and consent pages over HTTP, accounts only for allowed domains, linking by verified
// email, groups and role from its groups claim at every sign-in, and each bad configuration refused in one sentence
// with no account made. The dashboard is the real one (services, edge, better-auth) on a real port.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signInErrorCodes } from '../../lib/sign-in-errors';
import { signInThroughProvider, startOidcProvider, OIDC_CLIENT_SECRET, type FixtureUser, type OidcProvider } from '../../testing/helpers/oidc';
import { startBackend, type Backend } from '../../testing/helpers/terminals';
import { listBoxes } from '../boxes/boxes';
import { sessionUserOf } from '../boxes/access';
import { createGroup, saveGroup } from '../groups/groups';
import { appRouter } from '../trpc/router';
import { httpRequest } from '../../testing/helpers/http';
import { freePort, runProcess, TSX } from '../../testing/helpers/process';
import { setPasswordSignIn } from './password-sign-in';

const user = (email: string, groups: string[], verified = true): FixtureUser => ({ email, email_verified: verified, name: email.split('@')[0]!, groups });

interface Dashboard {
  backend: Backend;
  url: string;
}

/** A dashboard on a port of its own, configured for `provider` with `env` on top (a wrong secret, another issuer). */
async function dashboardFor(provider: OidcProvider, port: number, env: Record<string, string> = {}): Promise<Dashboard> {
  const url = `http://127.0.0.1:${port}`;
  const backend = await startBackend({ BOXYARD_URL: url, OIDC_ALLOWED_DOMAINS: 'team.test', ...provider.dashboardEnv(), ...env });
  await backend.listen(undefined, port);
  return { backend, url };
}

const auditOf = (dashboard: Dashboard, action: string) => dashboard.backend.services.db.auditEvent.findMany({ where: { action }, orderBy: { at: 'asc' } });
/** The sentences of the failed sign-ins audited so far. */
const failedSignIns = async (dashboard: Dashboard) => (await auditOf(dashboard, 'auth.signin')).filter((event) => event.result === 'error').map((event) => event.error);

describe('single sign-on through a real OpenID Connect provider', () => {
  let provider: OidcProvider;
  let dashboard: Dashboard;

  beforeAll(async () => {
    const port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}`);
    dashboard = await dashboardFor(provider, port);
  }, 60_000);
  afterAll(async () => {
    await dashboard?.backend.stop();
    await provider?.stop();
  });

  it('makes an allowed new user a developer in their provider groups, who reaches only their group\'s boxes', async () => {
    const { db } = dashboard.backend.services;
    const admin = dashboard.backend.admin.user;
    provider.setUsers({ alice: user('alice@team.test', ['team-payments']) });

    const signIn = await signInThroughProvider(dashboard.url, 'alice');
    expect(signIn).toMatchObject({ landedOn: '/', refused: null });
    expect(signIn.sessionCookie).toMatch(/^boxyard\.session_token=/);

    const alice = await db.user.findUniqueOrThrow({ where: { email: 'alice@team.test' }, include: { groups: { include: { group: true } }, accounts: true } });
    expect(alice.role).toBe('developer');
    expect(alice.groups.map((member) => [member.group.name, member.group.source])).toEqual([['team-payments', 'provider']]);
    expect(alice.accounts.map((account) => account.providerId)).toEqual(['oidc']);
    const signIns = await auditOf(dashboard, 'auth.signin');
    expect(signIns.at(-1)).toMatchObject({ actorEmail: 'alice@team.test', result: 'ok' });
    expect(JSON.parse(signIns.at(-1)!.detail)).toMatchObject({ method: 'oidc', provider: provider.issuer, address: '127.0.0.1' });

    // The group reaches one box by name and every box tagged payments; nothing else.
    const box = (name: string, tags: string[] = []) =>
      dashboard.backend.services.db.box.create({ data: { name, host: '127.0.0.1', port: 22, sshUser: 'dev', tags: JSON.stringify(tags), ownerId: admin.id } });
    const given = await box('given-box');
    await box('tagged-box', ['payments', 'web']);
    await box('near-miss-box', ['payments-old']);
    await box('other-box', ['search']);
    const group = await db.group.findUniqueOrThrow({ where: { name: 'team-payments' } });
    await saveGroup(db, admin, { id: group.id, boxIds: [given.id], tags: ['payments'], memberIds: [] });
    expect((await listBoxes(db, sessionUserOf(alice))).map((b) => b.name)).toEqual(['given-box', 'tagged-box']);

    // An admin's own group, with alice in it by hand, gives her one more box; the provider does not take her out of it.
    const manual = await createGroup(db, admin, 'on-call');
    await saveGroup(db, admin, { id: manual.id, boxIds: [], tags: ['search'], memberIds: [alice.id] });
    expect((await listBoxes(db, sessionUserOf(alice))).map((b) => b.name)).toEqual(['given-box', 'other-box', 'tagged-box']);

    // Out of team-payments at the provider: at her next sign-in she loses its boxes, and keeps the admin's group.
    provider.setUsers({ alice: user('alice@team.test', []) });
    expect((await signInThroughProvider(dashboard.url, 'alice')).landedOn).toBe('/');
    expect((await listBoxes(db, sessionUserOf(alice))).map((b) => b.name)).toEqual(['other-box']);
    const groupChanges = await auditOf(dashboard, 'user.groups.provider');
    expect(groupChanges.map((event) => JSON.parse(event.detail))).toEqual([
      { joined: ['team-payments'], left: [] },
      { joined: [], left: ['team-payments'] },
    ]);
  }, 60_000);

  it('makes a member of the admin group an admin, and a developer again once the provider takes them out', async () => {
    const { db } = dashboard.backend.services;
    provider.setUsers({ bob: user('bob@team.test', ['boxyard-admins', 'team-search']) });
    expect((await signInThroughProvider(dashboard.url, 'bob')).landedOn).toBe('/');
    expect((await db.user.findUniqueOrThrow({ where: { email: 'bob@team.test' } })).role).toBe('admin');

    provider.setUsers({ bob: user('bob@team.test', ['team-search']) });
    expect((await signInThroughProvider(dashboard.url, 'bob')).landedOn).toBe('/');
    expect((await db.user.findUniqueOrThrow({ where: { email: 'bob@team.test' } })).role).toBe('developer');
    const roleChanges = (await auditOf(dashboard, 'user.role.provider')).filter((event) => event.actorEmail === 'bob@team.test');
    expect(roleChanges.map((event) => JSON.parse(event.detail))).toEqual([
      { from: 'developer', to: 'admin' },
      { from: 'admin', to: 'developer' },
    ]);
  }, 60_000);

  it('refuses an address outside the allowed domains, in a sentence, and makes no account', async () => {
    const { db } = dashboard.backend.services;
    provider.setUsers({ mallory: user('mallory@elsewhere.test', ['boxyard-admins']) });
    const signIn = await signInThroughProvider(dashboard.url, 'mallory');
    expect(signIn).toMatchObject({ error: 'email_domain_not_allowed', sessionCookie: null });
    expect(signIn.landedOn).toMatch(/^\/login\?/);
    expect(await db.user.findUnique({ where: { email: 'mallory@elsewhere.test' } })).toBeNull();
    expect((await failedSignIns(dashboard)).at(-1)).toBe(signInErrorCodes.email_domain_not_allowed);
  }, 60_000);

  it('joins a password account and the provider account of the same verified email into one', async () => {
    const { db } = dashboard.backend.services;
    const carol = await dashboard.backend.addUser('carol@team.test');
    // Unverified at the provider: not joined (anyone could claim the address there), and no second account either.
    provider.setUsers({ carol: user('carol@team.test', [], false) });
    expect((await signInThroughProvider(dashboard.url, 'carol')).error).toBe('account_not_linked');

    provider.setUsers({ carol: user('carol@team.test', []) });
    const signIn = await signInThroughProvider(dashboard.url, 'carol');
    expect(signIn.landedOn).toBe('/');
    const users = await db.user.findMany({ where: { email: 'carol@team.test' }, include: { accounts: true } });
    expect(users.map((row) => row.id)).toEqual([carol.user.id]);
    expect(users[0]!.accounts.map((account) => account.providerId).sort()).toEqual(['credential', 'oidc']);
    expect((await auditOf(dashboard, 'auth.account.link')).map((event) => event.actorEmail)).toEqual(['carol@team.test']);
    // Password sign-in keeps working for the same account.
    const password = await dashboard.backend.services.auth.api.signInEmail({ body: { email: 'carol@team.test', password: 'terminal-test-password' } });
    expect(password.user.id).toBe(carol.user.id);
  }, 60_000);

  it('refuses an ID token with a bad signature or another audience, and makes no account', async () => {
    const { db } = dashboard.backend.services;
    provider.setUsers({ dave: user('dave@team.test', []) });
    for (const mode of ['foreign-key', 'wrong-audience'] as const) {
      provider.setIdToken(mode);
      const signIn = await signInThroughProvider(dashboard.url, 'dave');
      expect(signIn, mode).toMatchObject({ error: 'unable_to_get_user_info', sessionCookie: null });
      expect((await failedSignIns(dashboard)).at(-1)).toBe(signInErrorCodes.unable_to_get_user_info);
    }
    provider.setIdToken('as-issued');
    expect(await db.user.findUnique({ where: { email: 'dave@team.test' } })).toBeNull();
  }, 60_000);
});

describe('password sign-in turned off', () => {
  let provider: OidcProvider;
  let dashboard: Dashboard;

  beforeAll(async () => {
    const port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}`, { erin: user('erin@team.test', []) });
    dashboard = await dashboardFor(provider, port);
  }, 60_000);
  afterAll(async () => {
    await dashboard?.backend.stop();
    await provider?.stop();
  });

  const passwordSignIn = () =>
    httpRequest(`${dashboard.url}/api/auth/sign-in/email`, { method: 'POST', headers: { origin: dashboard.url }, body: { email: dashboard.backend.admin.user.email, password: 'terminal-test-password' } });

  it('refuses passwords in a sentence while single sign-on still works; the recovery script turns them back on', async () => {
    const { services, admin } = dashboard.backend;
    const asAdmin = appRouter.createCaller({ services, user: admin.user });
    expect(await asAdmin.signIn.options()).toEqual({ provider: { id: 'oidc', name: 'Test IdP' }, password: true });
    await asAdmin.signIn.setPassword({ enabled: false });
    expect(await asAdmin.signIn.options()).toEqual({ provider: { id: 'oidc', name: 'Test IdP' }, password: false });

    const refused = await passwordSignIn();
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ message: 'Password sign-in is turned off on this dashboard; use "Sign in with Test IdP".' });
    expect((await signInThroughProvider(dashboard.url, 'erin')).landedOn).toBe('/');

    const recovery = await runProcess(TSX, ['scripts/password-sign-in-on.ts'], {
      env: { ...process.env, DATABASE_URL: services.env.databaseUrl, BOXYARD_DATA_DIR: services.env.dataDir, BOXYARD_URL: dashboard.url, ...provider.dashboardEnv() },
    });
    expect(recovery).toMatchObject({ code: 0, stdout: `Password sign-in is on again for the dashboard at ${dashboard.url}.\n` });
    expect((await passwordSignIn()).status).toBe(200);
    expect((await auditOf(dashboard, 'auth.password-signin')).map((event) => [event.actorEmail, JSON.parse(event.detail)])).toEqual([
      [admin.user.email, { enabled: false }],
      [null, { enabled: true }],
    ]);
  }, 60_000);

  it('cannot be turned off without single sign-on configured', async () => {
    await expect(setPasswordSignIn(dashboard.backend.services.db, dashboard.backend.admin.user, { enabled: false, ssoConfigured: false })).rejects.toThrow(
      'Password sign-in can be turned off only once single sign-on is configured (OIDC_ISSUER and its client).',
    );
  });
});

describe('single sign-on misconfigured', () => {
  let provider: OidcProvider;
  const dashboards: Dashboard[] = [];
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    provider = await startOidcProvider(`http://127.0.0.1:${port}`, { erin: user('erin@team.test', []) });
  }, 60_000);
  // One misconfigured dashboard at a time, on the one address the provider knows.
  afterEach(async () => {
    for (const dashboard of dashboards.splice(0)) await dashboard.backend.stop();
  });
  afterAll(async () => {
    await provider?.stop();
  });

  async function misconfigured(env: Record<string, string>) {
    const dashboard = await dashboardFor(provider, port, env);
    dashboards.push(dashboard);
    return dashboard;
  }

  it('a wrong client secret: the provider refuses the code, in a sentence, and no account is made', async () => {
    const dashboard = await misconfigured({ OIDC_CLIENT_SECRET: `${OIDC_CLIENT_SECRET}-not` });
    const signIn = await signInThroughProvider(dashboard.url, 'erin');
    expect(signIn).toMatchObject({ error: 'invalid_code', sessionCookie: null });
    expect(await failedSignIns(dashboard)).toEqual([signInErrorCodes.invalid_code]);
    expect(await dashboard.backend.services.db.user.findUnique({ where: { email: 'erin@team.test' } })).toBeNull();
  }, 60_000);

  it('a wrong issuer: refused before the provider is asked, saying which issuer the provider names', async () => {
    const dashboard = await misconfigured({ OIDC_ISSUER: `http://localhost:${provider.port}` });
    const signIn = await signInThroughProvider(dashboard.url, 'erin');
    const sentence = `OIDC_ISSUER is http://localhost:${provider.port}, but the provider there names its issuer ${provider.issuer}: set OIDC_ISSUER to its issuer.`;
    expect(signIn.refused).toEqual({ status: 502, message: sentence });
    expect(await failedSignIns(dashboard)).toEqual([sentence]);
    expect(await dashboard.backend.services.db.user.findUnique({ where: { email: 'erin@team.test' } })).toBeNull();
  }, 60_000);

  it('an unreachable provider: refused in a sentence that names it', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const dashboard = await misconfigured({ OIDC_ISSUER: nowhere });
    const signIn = await signInThroughProvider(dashboard.url, 'erin');
    const sentence = `The identity provider at ${nowhere} could not be reached (ECONNREFUSED): check OIDC_ISSUER and that the provider is up.`;
    expect(signIn.refused).toEqual({ status: 502, message: sentence });
    expect(await failedSignIns(dashboard)).toEqual([sentence]);
  }, 60_000);
});

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliLoginFailure, CLI_CLIENT_ID, displayUserCode } from '../lib/cli-login';
import { createApiToken, revokeApiToken } from '../server/access-keys/api-tokens';
import { createBox } from '../server/boxes/boxes';
import { CLI_SOURCE as CLI, runProcess, TSX } from '../testing/helpers/process';
import { startBackend, type Backend, type TestUser } from '../testing/helpers/terminals';
import { until } from '../testing/helpers/wait';
import { saveCredentials } from './credentials';

/**
 * `boxyard login` and `logout`: the real CLI process (HOME and XDG_CONFIG_HOME in a temporary folder) against a
 * dashboard backend, the approval made over HTTP as the /device page makes it (its own Playwright spec,
 * e2e/login.spec.ts, clicks it in Chromium).
 */

describe('boxyard login and logout', () => {
  let backend: Backend;
  let alice: TestUser;
  let url: string;
  const home = mkdtempSync(path.join(tmpdir(), 'boxyard-login-home-'));
  const credentials = path.join(home, 'xdg', 'boxyard', 'credentials.json');
  const env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, 'xdg'), NODE_ENV: 'test' } as NodeJS.ProcessEnv;
  const boxyard = (...args: string[]) => runProcess(TSX, [CLI, ...args], { env, timeoutMs: 90_000 });
  const saved = () => JSON.parse(readFileSync(credentials, 'utf8')) as { url: string; token: string; email: string };

  /** The pending code the CLI just asked for (the page would get it from the link the CLI printed). */
  const pendingCode = () => until(() => backend.services.db.deviceCode.findFirst({ where: { status: 'pending' } }), 'the CLI to request a code');

  /** What the /device page does, as the signed-in `user`: open the code (which claims it), then approve or deny. */
  async function decide(user: TestUser, userCode: string, decision: 'approve' | 'deny', machine = hostname()) {
    const headers = { cookie: user.cookie, origin: backend.origin, 'content-type': 'application/json' };
    const opened = await fetch(`${url}/api/auth/device?user_code=${userCode}`, { headers });
    expect(await opened.json()).toMatchObject({ status: 'pending', client_id: CLI_CLIENT_ID, machine_name: machine });
    const decided = await fetch(`${url}/api/auth/device/${decision}`, { method: 'POST', headers, body: JSON.stringify({ userCode }) });
    expect(decided.status).toBe(200);
  }

  beforeAll(async () => {
    backend = await startBackend();
    url = (await backend.listen()).replace(/^ws:/, 'http:');
    alice = await backend.addUser('alice@example.com');
    await createBox(backend.services.db, backend.services.secrets, backend.admin.user, {
      name: 'alices-box', host: '192.0.2.10', port: 22, sshUser: 'dev', tags: [], notes: '', ownerId: alice.user.id, memberIds: [], auth: { method: 'dashboard-key' },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('approved in the browser: the CLI ends with its own API token named after the machine, saved 0600, and connect needs no flags', async () => {
    const login = boxyard('login', url);
    const code = await pendingCode();
    expect(code.machineName).toBe(hostname());
    await decide(alice, code.userCode, 'approve');
    const ran = await login;
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`approve the code ${displayUserCode(code.userCode)}:\n  http://127.0.0.1:3000/device?user_code=${code.userCode}\n`);
    expect(ran.stdout).toContain(`Signed in to ${url} as alice@example.com (API token "boxyard CLI on ${hostname()}")`);

    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(credentials)).mode & 0o777).toBe(0o700);
    const login1 = saved();
    expect(login1).toMatchObject({ url, email: 'alice@example.com' });
    const tokens = await backend.services.db.apiToken.findMany({ where: { userId: alice.user.id } });
    expect(tokens.map((token) => [token.name, token.prefix])).toEqual([[`boxyard CLI on ${hostname()}`, login1.token.slice(0, 8)]]);
    // The code is used up, and no better-auth session was made for the CLI (only the test's own sign-in).
    expect(await backend.services.db.deviceCode.count()).toBe(0);
    expect(await backend.services.db.session.count({ where: { userId: alice.user.id } })).toBe(1);

    const audit = await backend.services.db.auditEvent.findMany({ where: { action: { startsWith: 'cli.login' } }, orderBy: { at: 'asc' } });
    expect(audit.map((event) => [event.action, event.actorEmail])).toEqual([
      ['cli.login.approve', 'alice@example.com'],
      ['cli.login', 'alice@example.com'],
    ]);
    expect(JSON.parse(audit[1]!.detail)).toEqual({ name: `boxyard CLI on ${hostname()}`, prefix: login1.token.slice(0, 8), machine: hostname(), address: '127.0.0.1' });

    const connect = await boxyard('connect', '--dry-run', '--no-docker-contexts');
    expect(connect.stderr).toBe('');
    expect(connect.code).toBe(0);
    expect(connect.stdout).toContain('alice@example.com may reach 1 box(es): alices-box.');
    expect(connect.stdout).toMatch(new RegExp(`\n  ProxyCommand /.* proxy --url ${url.replaceAll('/', '\\/')} --credentials ${credentials.replaceAll('/', '\\/')} %n\n`));
  });

  it('denied, expired, or a code the dashboard no longer knows: one sentence, exit 1, nothing saved', async () => {
    rmSync(credentials);
    const denied = boxyard('login', url);
    await decide(alice, (await pendingCode()).userCode, 'deny');
    expect(await denied).toMatchObject({ code: 1, stderr: `boxyard: ${cliLoginFailure.access_denied}\n` });

    const expired = boxyard('login', url);
    await backend.services.db.deviceCode.update({ where: { id: (await pendingCode()).id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await expired).toMatchObject({ code: 1, stderr: `boxyard: ${cliLoginFailure.expired_token}\n` });

    const forgotten = boxyard('login', url);
    await backend.services.db.deviceCode.delete({ where: { id: (await pendingCode()).id } });
    expect(await forgotten).toMatchObject({ code: 1, stderr: `boxyard: ${cliLoginFailure.invalid_grant}\n` });

    expect(existsSync(credentials)).toBe(false);
    const audit = await backend.services.db.auditEvent.findMany({ where: { action: 'cli.login.deny' } });
    expect(audit.map((event) => event.actorEmail)).toEqual(['alice@example.com']);
  });

  it("a CLI code is never redeemed for a better-auth session, and only its owner's page may approve it", async () => {
    const started = await fetch(`${url}/api/auth/device/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: CLI_CLIENT_ID, machine_name: 'laptop-7' }),
    });
    const { device_code, user_code } = (await started.json()) as { device_code: string; user_code: string };
    const bob = await backend.addUser('bob@example.com');
    const opened = await fetch(`${url}/api/auth/device?user_code=${user_code}`, { headers: { cookie: alice.cookie } });
    expect(await opened.json()).toMatchObject({ status: 'pending', machine_name: 'laptop-7' });
    // Bob, given Alice's code, sees neither the client nor the machine, and cannot approve it.
    const peek = await fetch(`${url}/api/auth/device?user_code=${user_code}`, { headers: { cookie: bob.cookie } });
    expect(await peek.json()).toEqual({ user_code, status: 'pending' });
    const hijack = await fetch(`${url}/api/auth/device/approve`, {
      method: 'POST',
      headers: { cookie: bob.cookie, origin: backend.origin, 'content-type': 'application/json' },
      body: JSON.stringify({ userCode: user_code }),
    });
    expect(hijack.status).toBe(403);
    await decide(alice, user_code, 'approve', 'laptop-7');

    const session = await fetch(`${url}/api/auth/device/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code, client_id: CLI_CLIENT_ID }),
    });
    expect(session.status).toBe(400);
    expect(await session.json()).toMatchObject({ error: 'invalid_grant' });

    const other = await fetch(`${url}/api/auth/device/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: 'someone-else', machine_name: 'laptop-7' }),
    });
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: 'invalid_client' });
    await backend.services.db.deviceCode.deleteMany();
  });

  it('--token checks the token with the dashboard before saving it; a revoked one is refused and nothing is saved', async () => {
    const { token, apiToken } = await createApiToken(backend.services.db, alice.user, 'ci runner');
    const ran = await boxyard('login', `${url}/`, '--token', token);
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`Signed in to ${url} as alice@example.com (API token "ci runner")`);
    expect(saved()).toEqual({ url, token, email: 'alice@example.com' });

    await revokeApiToken(backend.services.db, alice.user, apiToken.id);
    rmSync(credentials);
    const refused = await boxyard('login', url, '--token', token);
    expect(refused).toMatchObject({ code: 1, stderr: 'boxyard: the dashboard refused the token: This API token was revoked; make a new one on your profile page.\n' });
    expect(existsSync(credentials)).toBe(false);

    expect(await boxyard('login', 'boxyard.example.com')).toMatchObject({ code: 2 });
  });

  it('logout revokes the saved token on the dashboard (audited) and removes the file; again, revoked or unreachable, it still signs out', async () => {
    const { token, apiToken } = await createApiToken(backend.services.db, alice.user, 'to log out');
    await boxyard('login', url, '--token', token);
    const ran = await boxyard('logout');
    expect(ran).toMatchObject({ code: 0, stderr: '' });
    expect(ran.stdout).toBe(`Signed out of ${url}: revoked the API token "to log out".\n`);
    expect(existsSync(credentials)).toBe(false);
    expect((await backend.services.db.apiToken.findUniqueOrThrow({ where: { id: apiToken.id } })).revokedAt).toBeInstanceOf(Date);
    const audit = await backend.services.db.auditEvent.findFirstOrThrow({ where: { action: 'cli.logout' } });
    expect([audit.actorEmail, JSON.parse(audit.detail)]).toEqual(['alice@example.com', { name: 'to log out', prefix: token.slice(0, 8), address: '127.0.0.1' }]);

    expect(await boxyard('logout')).toMatchObject({ code: 0, stdout: 'Not signed in: nothing to do.\n' });
    const refused = await boxyard('connect', '--dry-run');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('boxyard: not signed in: run `boxyard login URL`');

    // A token revoked on the profile page meanwhile: nothing left to revoke, the login is removed all the same.
    const second = await createApiToken(backend.services.db, alice.user, 'revoked meanwhile');
    await boxyard('login', url, '--token', second.token);
    await revokeApiToken(backend.services.db, alice.user, second.apiToken.id);
    const already = await boxyard('logout');
    expect(already.code).toBe(0);
    expect(already.stdout).toContain('the dashboard no longer accepted its token (revoked already, or unknown), so there was nothing to revoke');
    expect(existsSync(credentials)).toBe(false);

    // A dashboard that is gone (nothing listens on its port): signed out here, told to revoke the token there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const gone = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    await saveCredentials({ url: gone, token: second.token }, credentials);
    const unreachable = await boxyard('logout');
    expect(unreachable.code).toBe(0);
    expect(unreachable.stdout).toBe(`Signed out of ${gone}: could not reach the dashboard at ${gone}: connect ECONNREFUSED 127.0.0.1:${new URL(gone).port}, so its token is still valid: revoke it on your profile page there.\n`);
    expect(existsSync(credentials)).toBe(false);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionUser } from '../boxes/access';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { providers, sql, testDatabases } from '../../testing/helpers/databases';
import { createPrometheusRegistry, Timings } from '../metrics/prometheus';
import type { Services } from '../services';
import { appRouter } from '../trpc/router';
import { createUser } from '../users/users';
import { authenticateApiToken, hashToken } from './api-tokens';
import { parsePublicKey } from './ssh-keys';

const keyDir = mkdtempSync(path.join(tmpdir(), 'boxyard-keys-'));
afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

/** A key pair made by the real ssh-keygen; returns [private, public]. */
function sshKeygen(name: string, ...args: string[]): [string, string] {
  const file = path.join(keyDir, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@laptop`, '-f', file, ...args]);
  return [readFileSync(file, 'utf8'), readFileSync(`${file}.pub`, 'utf8')];
}

describe('parsePublicKey', () => {
  it('accepts ed25519, ECDSA and RSA of 2048 bits and more, normalised to one "type base64 comment" line', () => {
    for (const args of [['-t', 'ed25519'], ['-t', 'ecdsa', '-b', '256'], ['-t', 'ecdsa', '-b', '521'], ['-t', 'rsa', '-b', '2048']]) {
      const [, publicKey] = sshKeygen(`ok-${args.join('')}`, ...args);
      const parsed = parsePublicKey(`\n  ${publicKey}  \n`);
      expect(parsed.publicKey).toBe(publicKey.trim());
      const fingerprint = execFileSync('ssh-keygen', ['-lf', '-'], { input: publicKey }).toString().split(' ')[1];
      expect(parsed.fingerprint).toBe(fingerprint);
    }
  });

  it('refuses private keys without echoing them, whatever their format', () => {
    const [privateKey] = sshKeygen('private', '-t', 'ed25519');
    const encrypted = ssh2.utils.generateKeyPairSync('ed25519', { passphrase: 'secret', cipher: 'aes256-ctr', rounds: 4 }).private;
    for (const pasted of [privateKey, encrypted, privateKey.replace('OPENSSH PRIVATE KEY', 'PRIVATE KEY')]) {
      let message = '';
      try {
        parsePublicKey(pasted);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^That is a private key: keep it secret/);
      expect(message).not.toContain(pasted.split('\n')[1]);
    }
  });

  it('refuses short RSA, DSA, garbage, options and several keys at once', () => {
    expect(() => parsePublicKey(sshKeygen('short', '-t', 'rsa', '-b', '1024')[1])).toThrow('This RSA key has 1024 bits; at least 2048 are needed.');
    expect(() => parsePublicKey(sshKeygen('dsa', '-t', 'dsa')[1])).toThrow(/ssh-dss keys are not accepted/);
    expect(() => parsePublicKey('hello')).toThrow(/not an SSH public key/);
    const [, ed] = sshKeygen('options', '-t', 'ed25519');
    expect(() => parsePublicKey(`command="rm -rf ~" ${ed}`)).toThrow(/not an SSH public key/);
    expect(() => parsePublicKey(`${ed}\n${ed}`)).toThrow(/one key at a time/);
  });
});

describe.each(providers)('profile keys and tokens on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'access_keys');
  let db: Db;
  let url: string;
  let alice: SessionUser;
  let bob: SessionUser;
  // The profile procedures use only the database and the dashboard's public URL.
  const as = (user: SessionUser) => appRouter.createCaller({ services: { db, env: { publicUrl: 'https://boxyard.example.com' }, timings: new Timings(createPrometheusRegistry()) } as Services, user });

  beforeAll(async () => {
    url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
    const person = async (email: string, role: 'admin' | 'developer'): Promise<SessionUser> => {
      const user = await createUser(db, { email, name: email, password: 'a-long-password', role });
      return { id: user.id, email: user.email, name: user.name, role };
    };
    alice = await person('alice@example.com', 'developer');
    bob = await person('bob@example.com', 'admin');
  });

  afterAll(async () => {
    await db.$disconnect();
  });

  it('adds, lists and removes your own keys; others cannot see or remove them, admins included', async () => {
    const [, publicKey] = sshKeygen(`${provider}-alice`, '-t', 'ed25519');
    const added = await as(alice).profile.keys.add({ name: ' laptop ', publicKey });
    expect(added).toMatchObject({ name: 'laptop', publicKey: publicKey.trim(), fingerprint: expect.stringMatching(/^SHA256:/) });
    expect((await as(alice).profile.keys.list()).map((key) => key.id)).toEqual([added.id]);
    expect(await as(bob).profile.keys.list()).toEqual([]);
    await expect(as(bob).profile.keys.remove({ id: added.id })).rejects.toThrow('No such key');
    // The same key twice for one user is refused; another user may add it.
    await expect(as(alice).profile.keys.add({ name: 'again', publicKey })).rejects.toThrow('You already added this key, as "laptop".');
    await as(bob).profile.keys.add({ name: 'shared', publicKey });
    await as(alice).profile.keys.remove({ id: added.id });
    expect(await as(alice).profile.keys.list()).toEqual([]);

    const audit = await db.auditEvent.findMany({ where: { actorId: alice.id, action: { startsWith: 'profile.key' } }, orderBy: { at: 'asc' } });
    expect(audit.map((event) => [event.action, JSON.parse(event.detail)])).toEqual([
      ['profile.key.add', { name: 'laptop', fingerprint: added.fingerprint }],
      ['profile.key.remove', { name: 'laptop', fingerprint: added.fingerprint }],
    ]);
  });

  it('a pasted private key is refused and never stored or audited', async () => {
    const [privateKey] = sshKeygen(`${provider}-leak`, '-t', 'ed25519');
    await expect(as(alice).profile.keys.add({ name: 'oops', publicKey: privateKey })).rejects.toThrow(/That is a private key/);
    const secretLine = privateKey.split('\n')[1]!;
    const stored = JSON.stringify([await db.userSshKey.findMany(), await db.auditEvent.findMany()]);
    expect(stored).not.toContain(secretLine);
  });

  it('makes a token shown once and stored only as its hash, lists it, authenticates it, and revokes it', async () => {
    const { token, apiToken, cliCommand } = await as(alice).profile.tokens.create({ name: 'work laptop' });
    expect(token).toMatch(/^byd_[A-Za-z0-9_-]{43}$/);
    expect(cliCommand).toBe(`boxyard connect --url https://boxyard.example.com --token ${token}`);
    expect(apiToken).toMatchObject({ name: 'work laptop', prefix: token.slice(0, 8), lastUsedAt: null, revokedAt: null });
    const rows = await sql(url, 'SELECT * FROM api_token');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.tokenHash).toBe(hashToken(token));
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(JSON.stringify(await db.auditEvent.findMany())).not.toContain(token);

    expect(await as(bob).profile.tokens.list()).toEqual([]);
    await expect(as(bob).profile.tokens.revoke({ id: apiToken.id })).rejects.toThrow('No such token.');

    const check = await authenticateApiToken(db, token);
    expect(check).toEqual({ ok: true, tokenId: apiToken.id, user: alice });
    expect((await as(alice).profile.tokens.list())[0]!.lastUsedAt).toBeInstanceOf(Date);
    expect(await authenticateApiToken(db, `${token}x`)).toEqual({ ok: false, reason: 'unknown' });
    expect(await authenticateApiToken(db, 'not-a-token')).toEqual({ ok: false, reason: 'unknown' });

    const revoked = await as(alice).profile.tokens.revoke({ id: apiToken.id });
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    expect(await authenticateApiToken(db, token)).toEqual({ ok: false, reason: 'revoked' });
    const audit = await db.auditEvent.findMany({ where: { actorId: alice.id, action: { startsWith: 'profile.token' } }, orderBy: { at: 'asc' } });
    expect(audit.map((event) => event.action)).toEqual(['profile.token.create', 'profile.token.revoke']);
  });

  it('deleting a user deletes their keys and tokens', async () => {
    const carol = await createUser(db, { email: `carol-${provider}@example.com`, name: 'carol', password: 'a-long-password', role: 'developer' });
    const carolUser: SessionUser = { id: carol.id, email: carol.email, name: carol.name, role: 'developer' };
    await as(carolUser).profile.keys.add({ name: 'k', publicKey: sshKeygen(`${provider}-carol`, '-t', 'ed25519')[1] });
    await as(carolUser).profile.tokens.create({ name: 't' });
    await db.user.delete({ where: { id: carol.id } });
    expect(await db.userSshKey.count({ where: { userId: carol.id } })).toBe(0);
    expect(await db.apiToken.count({ where: { userId: carol.id } })).toBe(0);
  });
});

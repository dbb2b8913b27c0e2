import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../crypto/secret-box';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { providers, sql, testDatabases } from '../../testing/helpers/databases';
import { updateBoxInput } from '../../lib/validation';
import { isAppError } from '../errors';
import { createUser } from '../users/users';
import type { SessionUser } from './access';
import { boxCredentials, createBox, deleteBox, getBox, listBoxes, listFleet, updateBox } from './boxes';

const secrets = new SecretBox(Buffer.alloc(32, 3));

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe.each(providers)('boxes on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'boxes');
  let db: Db;
  let url: string;
  let admin: SessionUser;
  let alice: SessionUser;
  let bob: SessionUser;

  beforeAll(async () => {
    url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
    const person = async (email: string, role: 'admin' | 'developer'): Promise<SessionUser> => {
      const user = await createUser(db, { email, name: email, password: 'a-long-password', role });
      return { id: user.id, email: user.email, name: user.name, role };
    };
    admin = await person('lead@example.com', 'admin');
    alice = await person('alice@example.com', 'developer');
    bob = await person('bob@example.com', 'developer');
  });
  afterAll(() => db.$disconnect());

  const base = { host: '127.0.0.1', port: 22, sshUser: 'dev', tags: [], notes: '', memberIds: [] };

  it('shows developers only the boxes they own or were given; admins see all', async () => {
    const owned = await createBox(db, secrets, admin, { ...base, name: 'alice-own', ownerId: alice.id, auth: { method: 'dashboard-key' } });
    const shared = await createBox(db, secrets, admin, { ...base, name: 'shared-with-alice', ownerId: bob.id, memberIds: [alice.id], auth: { method: 'dashboard-key' } });
    const bobs = await createBox(db, secrets, admin, { ...base, name: 'bob-only', ownerId: bob.id, auth: { method: 'dashboard-key' } });

    expect((await listBoxes(db, alice)).map((b) => b.name)).toEqual(['alice-own', 'shared-with-alice']);
    expect((await listBoxes(db, bob)).map((b) => b.name)).toEqual(['bob-only', 'shared-with-alice']);
    expect((await listBoxes(db, admin)).map((b) => b.name)).toEqual(['alice-own', 'bob-only', 'shared-with-alice']);
    expect((await getBox(db, alice, shared.id)).members.map((m) => m.email)).toEqual(['alice@example.com']);

    const denied = await rejection(getBox(db, alice, bobs.id));
    expect(isAppError(denied, 'NOT_FOUND')).toBe(true);
    expect(isAppError(await rejection(deleteBox(db, alice, bobs.id)), 'NOT_FOUND')).toBe(true);
    expect(owned.owner.email).toBe('alice@example.com');
  });

  it("gives the fleet table each user's boxes with the table's fields only", async () => {
    for (const user of [alice, bob, admin]) {
      const fleet = await listFleet(db, user);
      expect(fleet.map((b) => b.id)).toEqual((await listBoxes(db, user)).map((b) => b.id));
    }
    const [row] = (await listFleet(db, alice)).filter((b) => b.name === 'shared-with-alice');
    expect(row).toEqual({
      id: expect.any(String),
      name: 'shared-with-alice',
      host: base.host,
      port: base.port,
      sshUser: base.sshUser,
      notes: '',
      tags: [],
      owner: { email: 'bob@example.com' },
      status: 'unknown',
      statusMessage: '',
      facts: null,
    });
  });

  it('filters by text, tag and status', async () => {
    await createBox(db, secrets, admin, { ...base, name: 'tagged-eu', tags: ['eu', 'gpu', 'eu'], notes: 'Render farm', auth: { method: 'dashboard-key' } });
    expect((await listBoxes(db, admin, { tag: 'gpu' })).map((b) => b.name)).toEqual(['tagged-eu']);
    expect((await listBoxes(db, admin, { search: 'RENDER' })).map((b) => b.name)).toEqual(['tagged-eu']);
    expect((await listBoxes(db, admin, { status: 'online' }))).toEqual([]);
    expect((await getBox(db, admin, (await listBoxes(db, admin, { tag: 'gpu' }))[0]!.id)).tags).toEqual(['eu', 'gpu']);
  });

  it('refuses a taken name with a message that names it, and leaves the first box intact', async () => {
    const error = await rejection(createBox(db, secrets, admin, { ...base, name: 'alice-own', auth: { method: 'dashboard-key' } }));
    expect(isAppError(error, 'CONFLICT')).toBe(true);
    expect((error as Error).message).toBe('The name "alice-own" is already taken; choose another.');
    expect((await listBoxes(db, admin, { search: 'alice-own' })).map((b) => b.owner.id)).toEqual([alice.id]);
  });

  it('stores passwords and private keys encrypted, never in the box view', async () => {
    const box = await createBox(db, secrets, admin, { ...base, name: 'with-password', auth: { method: 'password', password: 'pa55-w0rd-secret' } });
    const [row] = await sql(url, provider === 'sqlite' ? 'SELECT "secretCipher" FROM box WHERE id = ?' : 'SELECT "secretCipher" FROM box WHERE id = $1', [box.id]);
    expect(String(row!.secretCipher)).toMatch(/^v1:/);
    expect(String(row!.secretCipher)).not.toContain('pa55');
    expect(JSON.stringify(box)).not.toContain('pa55');
    const stored = await db.box.findUniqueOrThrow({ where: { id: box.id } });
    expect(boxCredentials(stored, secrets)).toEqual({ method: 'password', password: 'pa55-w0rd-secret' });

    await updateBox(db, secrets, admin, { id: box.id, auth: { method: 'private-key', privateKey: 'KEY-MATERIAL', passphrase: 'pp' } });
    const updated = await db.box.findUniqueOrThrow({ where: { id: box.id } });
    expect(updated.secretCipher).not.toContain('KEY-MATERIAL');
    expect(boxCredentials(updated, secrets)).toEqual({ method: 'private-key', privateKey: 'KEY-MATERIAL', passphrase: 'pp' });
  });

  it('resets the pinned host key when the address changes, and keeps it otherwise', async () => {
    const box = await createBox(db, secrets, admin, { ...base, name: 'moves', auth: { method: 'dashboard-key' } });
    await db.box.update({ where: { id: box.id }, data: { hostKeyFingerprint: 'SHA256:abc', hostKeyAlgorithm: 'ssh-ed25519', hostKeyBlob: 'AAAAC3NzaC1lZDI1NTE5' } });
    expect((await updateBox(db, secrets, admin, { id: box.id, notes: 'same address' })).hostKey?.fingerprint).toBe('SHA256:abc');
    expect((await updateBox(db, secrets, admin, { id: box.id, port: 2222 })).hostKey).toBeNull();
    expect((await db.box.findUniqueOrThrow({ where: { id: box.id } })).hostKeyBlob).toBeNull();
  });

  it('changes only the fields an update is given, through the procedure input (no defaults filled in)', async () => {
    const box = await createBox(db, secrets, admin, {
      ...base,
      name: 'keeps-fields',
      port: 2200,
      tags: ['web', 'eu'],
      notes: 'the staging box',
      ownerId: alice.id,
      memberIds: [bob.id],
      auth: { method: 'password', password: 'box-password' },
    });
    await db.box.update({ where: { id: box.id }, data: { hostKeyFingerprint: 'SHA256:keep', hostKeyAlgorithm: 'ssh-ed25519', hostKeyBlob: 'AAAAC3NzaC1lZDI1NTE5' } });
    const before = await getBox(db, admin, box.id);
    const renamed = await updateBox(db, secrets, admin, updateBoxInput.parse({ id: box.id, name: 'kept-fields' }));
    const { name: _newName, updatedAt: _newTime, ...rest } = renamed;
    const { name: _oldName, updatedAt: _oldTime, ...restBefore } = before;
    expect(renamed.name).toBe('kept-fields');
    expect(rest).toEqual(restBefore);
    expect(rest).toMatchObject({ port: 2200, tags: ['web', 'eu'], notes: 'the staging box', hostKey: { fingerprint: 'SHA256:keep' } });
    expect(rest.members.map((m) => m.id)).toEqual([bob.id]);
    expect(boxCredentials(await db.box.findUniqueOrThrow({ where: { id: box.id } }), secrets)).toEqual({ method: 'password', password: 'box-password' });
    // Every field of the box, one at a time: each changes only itself.
    const oneField = { host: '127.0.0.2', sshUser: 'ops', tags: ['db'], notes: 'moved', ownerId: bob.id, memberIds: [alice.id] };
    for (const [field, value] of Object.entries(oneField)) {
      const previous = await getBox(db, admin, box.id);
      const after = await updateBox(db, secrets, admin, updateBoxInput.parse({ id: box.id, [field]: value }));
      const changed = Object.keys(after).filter((key) => key !== 'updatedAt' && JSON.stringify(after[key as keyof typeof after]) !== JSON.stringify(previous[key as keyof typeof previous]));
      // A new host also drops the pin (the box was never reached, so its status stays "unknown").
      const expected = { host: ['host', 'hostKey'], ownerId: ['owner'], memberIds: ['members'] }[field] ?? [field];
      expect(changed.sort(), `updating ${field}`).toEqual(expected.sort());
    }
  });

  it('drops the pin only for a really different host or port, and audits that it did', async () => {
    const box = await createBox(db, secrets, admin, { ...base, name: 'pin-reset', auth: { method: 'dashboard-key' } });
    const pin = () => db.box.update({ where: { id: box.id }, data: { hostKeyFingerprint: 'SHA256:pinned', hostKeyAlgorithm: 'ssh-ed25519', hostKeyBlob: 'AAAAC3NzaC1lZDI1NTE5' } });
    const resets = async () =>
      (await db.auditEvent.findMany({ where: { boxId: box.id, action: 'box.hostkey.reset' }, orderBy: { at: 'asc' } })).map((e) => JSON.parse(e.detail));
    await pin();
    const same = await updateBox(db, secrets, admin, updateBoxInput.parse({ id: box.id, host: base.host, port: String(base.port) }));
    expect(same.hostKey?.fingerprint).toBe('SHA256:pinned');
    expect(await resets()).toEqual([]);
    const moved = await updateBox(db, secrets, admin, updateBoxInput.parse({ id: box.id, port: 2022 }));
    expect(moved.hostKey).toBeNull();
    expect(await resets()).toEqual([{ fingerprint: 'SHA256:pinned', from: { host: base.host, port: 22 }, to: { host: base.host, port: 2022 } }]);
    // A move of a box that has no pin yet drops nothing, so there is nothing to audit.
    await updateBox(db, secrets, admin, updateBoxInput.parse({ id: box.id, host: '127.0.0.3' }));
    expect(await resets()).toHaveLength(1);
  });

  it('replaces members and drops the owner from them', async () => {
    const box = await createBox(db, secrets, admin, { ...base, name: 'members', ownerId: alice.id, memberIds: [bob.id], auth: { method: 'dashboard-key' } });
    const updated = await updateBox(db, secrets, admin, { id: box.id, memberIds: [alice.id] });
    expect(updated.members).toEqual([]);
    expect(await listBoxes(db, bob)).not.toContainEqual(expect.objectContaining({ id: box.id }));
  });

  it('refuses an owner that does not exist', async () => {
    const error = await rejection(createBox(db, secrets, admin, { ...base, name: 'ghost-owner', ownerId: 'nobody', auth: { method: 'dashboard-key' } }));
    expect(isAppError(error, 'BAD_INPUT')).toBe(true);
    expect(await listBoxes(db, admin, { search: 'ghost-owner' })).toEqual([]);
  });
});

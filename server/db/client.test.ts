import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, dbProvider, isDatabaseUnreachable, isUniqueViolation, type Db } from './client';
import { applyMigrations } from './migrate';
import { postgresConnectTimeoutMs } from './url';
import { providers, sql, testDatabases } from '../../testing/helpers/databases';
import { startPrivatePostgres } from '../../testing/helpers/postgres-cluster';
import { freePort } from '../../testing/helpers/process';
import { until } from '../../testing/helpers/wait';

describe('dbProvider', () => {
  it('picks the provider from the URL scheme', () => {
    expect(dbProvider('file:./data/boxyard.db')).toBe('sqlite');
    expect(dbProvider('postgres://u:p@db:5432/boxyard')).toBe('postgres');
    expect(dbProvider('postgresql://u:p@db:5432/boxyard')).toBe('postgres');
  });

  it('refuses other URLs without echoing their password', () => {
    expect(() => dbProvider('mysql://root:hunter2@db/boxyard')).toThrow(/Unsupported DATABASE_URL \(mysql:\).*file:.*postgresql:/);
    expect(() => dbProvider('mysql://root:hunter2@db/boxyard')).not.toThrow(/hunter2/);
    expect(() => createDb('boxyard.db')).toThrow(/Unsupported DATABASE_URL/);
  });

  it('refuses an in-memory SQLite database, which migrations could never reach', () => {
    expect(() => createDb('file::memory:')).toThrow(/must name a file/);
  });
});

describe('postgresConnectTimeoutMs', () => {
  it("is the URL's connect_timeout in seconds, as libpq reads it, or 10 s", () => {
    expect(postgresConnectTimeoutMs('postgresql://u:p@db:5432/boxyard')).toBe(10_000);
    expect(postgresConnectTimeoutMs('postgresql://u:p@db:5432/boxyard?sslmode=require&connect_timeout=3')).toBe(3_000);
  });

  it('refuses a connect_timeout that is not a whole number of seconds, saying what to write', () => {
    for (const value of ['0', '-1', '2.5', 'ten', '']) {
      expect(() => postgresConnectTimeoutMs(`postgresql://u:p@db/boxyard?connect_timeout=${value}`)).toThrow(
        'connect_timeout in DATABASE_URL must be a whole number of seconds from 1, e.g. connect_timeout=10.',
      );
    }
  });
});

describe('createDb on SQLite', () => {
  it("creates the database file's folder", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'boxyard-client-'));
    const file = path.join(dir, 'nested', 'deeper', 'boxyard.db');
    const db = createDb(`file:${file}`);
    try {
      await db.$queryRawUnsafe('SELECT 1');
      expect(existsSync(file)).toBe(true);
    } finally {
      await db.$disconnect();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(providers)('the %s client', (provider) => {
  const freshDatabase = testDatabases(provider, 'client');
  let db: Db;
  beforeAll(async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });
  afterAll(() => db?.$disconnect());

  let counter = 0;
  const createUser = (fields: { emailVerified?: boolean } = {}) => {
    counter += 1;
    return db.user.create({ data: { id: `user-${counter}`, name: `User ${counter}`, email: `user${counter}@example.com`, ...fields } });
  };
  const createBox = (ownerId: string, fields: { memberIds?: string[]; name?: string } = {}) => {
    counter += 1;
    return db.box.create({
      data: {
        name: fields.name ?? `box-${counter}`,
        host: `10.0.0.${counter}`,
        sshUser: 'deploy',
        ownerId,
        members: { create: (fields.memberIds ?? []).map((userId) => ({ userId })) },
      },
      include: { members: true },
    });
  };

  it('round-trips users, with their defaults', async () => {
    const created = await createUser();

    const found = await db.user.findUniqueOrThrow({ where: { email: created.email } });

    expect(found).toEqual(created);
    expect(found).toMatchObject({ role: 'developer', emailVerified: false, image: null });
    expect(found.createdAt).toBeInstanceOf(Date);
  });

  it('creates boxes with members, and deleting a box deletes its memberships', async () => {
    const [owner, alice, bob] = [await createUser(), await createUser(), await createUser()];
    const box = await createBox(owner.id, { memberIds: [alice.id, bob.id] });
    expect(box).toMatchObject({ port: 22, kind: 'ssh', status: 'unknown', tags: '[]', hostKeyFingerprint: null });
    expect(box.members.map((member) => member.userId).sort()).toEqual([alice.id, bob.id].sort());

    await db.user.delete({ where: { id: bob.id } });
    expect(await db.boxMember.findMany({ where: { boxId: box.id } })).toEqual([{ boxId: box.id, userId: alice.id }]);

    await db.box.delete({ where: { id: box.id } });
    expect(await db.boxMember.count({ where: { boxId: box.id } })).toBe(0);
  });

  it('enforces foreign keys: a user who owns a box cannot be deleted', async () => {
    const owner = await createUser();
    await createBox(owner.id);

    await expect(db.user.delete({ where: { id: owner.id } })).rejects.toMatchObject({ code: 'P2003' });
  });

  it('reports a duplicate box name as a unique violation (P2002)', async () => {
    const owner = await createUser();
    await createBox(owner.id, { name: 'build-server' });

    const error = await createBox(owner.id, { name: 'build-server' }).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ code: 'P2002' });
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(new Error('P2002'))).toBe(false);
    // A refused statement is not an unreachable database.
    expect(isDatabaseUnreachable(error)).toBe(false);
  });

  it('stores and queries audit events', async () => {
    const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 12, minute));
    await db.auditEvent.createMany({
      data: [
        { at: at(1), actorEmail: 'a@example.com', action: 'box.create', boxId: 'b-audit', boxName: 'audit', result: 'ok' },
        { at: at(3), action: 'ssh.exec', boxId: 'b-audit', detail: '{"command":"uptime"}', result: 'error', error: 'exit 1' },
        { at: at(2), action: 'box.repin', boxId: 'b-audit', result: 'ok' },
      ],
    });

    const events = await db.auditEvent.findMany({ where: { boxId: 'b-audit', at: { gte: at(2) } }, orderBy: { at: 'desc' } });

    expect(events.map((event) => [event.action, event.at])).toEqual([
      ['ssh.exec', at(3)],
      ['box.repin', at(2)],
    ]);
    expect(events[1]).toMatchObject({ detail: '{}', actorId: null, error: null });
    expect(events[0]!.id).toMatch(/^c[a-z0-9]{20,}$/); // cuid
  });

  it('round-trips DateTime and Boolean values exactly, whatever the local time zone', async () => {
    const previousTz = process.env.TZ;
    process.env.TZ = 'Pacific/Chatham'; // UTC+12:45/+13:45: any local-time conversion shows
    try {
      const instants = [new Date('2024-02-29T23:59:59.123Z'), new Date(0), new Date('2199-12-31T23:59:59.999Z')];
      for (const [index, instant] of instants.entries()) {
        const user = await createUser({ emailVerified: index % 2 === 0 });
        const box = await createBox(user.id);
        await db.box.update({ where: { id: box.id }, data: { hostKeyPinnedAt: instant, statusCheckedAt: instant } });

        const read = await db.box.findUniqueOrThrow({ where: { id: box.id }, include: { owner: true } });

        expect(read.hostKeyPinnedAt?.toISOString()).toBe(instant.toISOString());
        expect(read.owner.emailVerified).toBe(index % 2 === 0);
        expect(await db.box.count({ where: { id: box.id, statusCheckedAt: { gte: instant, lte: instant } } })).toBe(1);
      }
      expect(await db.user.count({ where: { emailVerified: true, id: { startsWith: 'user-' } } })).toBeGreaterThanOrEqual(2);
    } finally {
      process.env.TZ = previousTz;
    }
  });

  it('keeps updatedAt current', async () => {
    const user = await createUser();
    await until(() => Date.now() > user.updatedAt.getTime(), 'the clock to pass updatedAt');

    const updated = await db.user.update({ where: { id: user.id }, data: { name: 'Renamed' } });

    expect(updated.updatedAt.getTime()).toBeGreaterThan(user.updatedAt.getTime());
  });
});

describe('the sqlite client, connection settings', () => {
  const freshDatabase = testDatabases('sqlite', 'client');

  it('runs with WAL, foreign keys and a busy timeout', async () => {
    const db = createDb(await freshDatabase());
    const pragma = async (name: string) => Object.values((await db.$queryRawUnsafe<Record<string, unknown>[]>(`PRAGMA ${name}`))[0]!)[0];
    try {
      expect(await pragma('journal_mode')).toBe('wal');
      expect(Number(await pragma('foreign_keys'))).toBe(1);
      expect(Number(await pragma('busy_timeout'))).toBeGreaterThan(5_000); // better-sqlite3's default is 5 s
    } finally {
      await db.$disconnect();
    }
  });
});

describe('isDatabaseUnreachable', () => {
  it('is true for a PostgreSQL server that does not answer, by model query and raw query, also when wrapped', async () => {
    const db = createDb(`postgresql://nobody:nothing@127.0.0.1:${await freePort()}/absent`);
    try {
      const byModel = await db.user.findFirst().catch((caught: unknown) => caught);
      const byRaw = await db.$queryRaw`SELECT 1`.catch((caught: unknown) => caught);
      expect(isDatabaseUnreachable(byModel)).toBe(true);
      expect(isDatabaseUnreachable(byRaw)).toBe(true);
      expect(isDatabaseUnreachable(new Error('could not get the session', { cause: byModel }))).toBe(true);
      expect(isDatabaseUnreachable(new Error("Can't reach database server"))).toBe(false);
    } finally {
      await db.$disconnect();
    }
  });

  it('is true, within connect_timeout, for a server that takes the connection and never answers', async () => {
    // A hung server or a half-open path: node-postgres alone would wait for ever.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const db = createDb(`postgresql://nobody:nothing@127.0.0.1:${(silent.address() as net.AddressInfo).port}/absent?connect_timeout=1`);
    try {
      const started = Date.now();
      const failed = await db.user.findFirst().catch((caught: unknown) => caught);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(isDatabaseUnreachable(failed)).toBe(true);
    } finally {
      await db.$disconnect();
      silent.close();
    }
  });

  it('is true, within connect_timeout, for a query that waited that long for one of the pool\'s connections', async () => {
    const url = await testDatabases('postgres', 'client-pool')();
    const db = createDb(`${url}?connect_timeout=1`);
    try {
      // node-postgres's pool holds 10 connections: all busy for 3 s, so the 11th query waits for one.
      const busy = Array.from({ length: 10 }, () => db.$queryRaw`SELECT pg_sleep(3)::text`.then(() => 'done'));
      await until(async () => Number((await sql(url, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_sleep(3)%'"))[0]?.n) === 10, 'the pool to be busy', 10_000);
      const waited = await db.$queryRaw`SELECT 1`.catch((caught: unknown) => caught);
      expect(isDatabaseUnreachable(waited)).toBe(true);
      expect(await Promise.all(busy)).toEqual(Array(10).fill('done'));
    } finally {
      await db.$disconnect();
    }
  });

  it('is true for every failure of queries running while PostgreSQL is stopped and restarted (a private server)', async () => {
    const server = await startPrivatePostgres('client');
    await applyMigrations(server.url);
    const db = createDb(server.url);
    const failures: unknown[] = [];
    let running = true;
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      const queries = [() => db.user.findFirst(), () => db.$queryRaw`SELECT count(*)::int AS n FROM pg_class`, () => db.$transaction([db.user.count(), db.box.count()])];
      const load = queries.flatMap((query) => [0, 1].map(async () => {
        while (running) {
          await query().catch((error: unknown) => failures.push(error));
          await pause(20);
        }
      }));
      await pause(300);
      await server.halt();
      await pause(1_000);
      await server.start();
      for (let round = 0; round < 3; round++) {
        await pause(500);
        await server.restart();
      }
      await pause(500);
      running = false;
      await Promise.all(load);
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.filter((error) => !isDatabaseUnreachable(error)).map(String)).toEqual([]);
      // And the client recovered by itself.
      expect(await db.user.count()).toBe(0);
    } finally {
      running = false;
      await db.$disconnect();
      await server.remove();
    }
  }, 60_000);
});

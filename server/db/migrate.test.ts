import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { migrationList, postgresAdapters, sqliteAdapters, withSchemaEngine, type SchemaEngine } from '../../prisma/schema-engine';
import { applyMigrations, defaultMigrationsDir } from './migrate';
import { providers, sql, testDatabases } from '../../testing/helpers/databases';
import { sqliteFilePath, type DbProvider } from './url';

const noFilters = { externalTables: [], externalEnums: [] };

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A copy of the provider's migrations folder that a test may change. */
function copyOfMigrations(provider: DbProvider): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'boxyard-migrations-'));
  tempDirs.push(dir);
  cpSync(defaultMigrationsDir(provider), dir, { recursive: true });
  return dir;
}

const history = (url: string) =>
  sql(url, 'SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count, logs FROM "_prisma_migrations" ORDER BY migration_name');

describe.each(providers)('applyMigrations on %s', (provider) => {
  const freshDatabase = testDatabases(provider, 'migrate');
  const migrationsDir = defaultMigrationsDir(provider);
  const migrations = readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  it('applies every migration to an empty database and records them as Prisma does', async () => {
    const url = await freshDatabase();
    const log: string[] = [];

    expect(migrations.length).toBeGreaterThan(0);
    expect(await applyMigrations(url, { log: (message) => log.push(message) })).toEqual(migrations);

    const rows = await history(url);
    expect(rows.map((row) => row.migration_name)).toEqual(migrations);
    for (const row of rows) {
      const file = readFileSync(path.join(migrationsDir, String(row.migration_name), 'migration.sql'));
      expect(row.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(row.finished_at).not.toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(Number(row.applied_steps_count)).toBe(1);
    }
    expect(log).toEqual(migrations.map((name) => expect.stringContaining(`applied migration ${name}`)));
    for (const table of ['user', 'session', 'account', 'verification', 'box', 'box_member', 'audit_event', 'setting']) {
      expect(await sql(url, `SELECT COUNT(*) AS n FROM "${table}"`)).toEqual([{ n: provider === 'sqlite' ? 0 : '0' }]);
    }
  });

  it('does nothing the second time', async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    const before = await history(url);

    expect(await applyMigrations(url)).toEqual([]);
    expect(await history(url)).toEqual(before);
  });

  it('lets two dashboard processes start on the same empty database at once', async () => {
    const url = await freshDatabase();
    const startAt = Date.now() + 3_000; // both processes are loaded by then and reach the database together
    const run = () =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, '../../testing/fixtures/processes/apply-migrations.ts'), url, String(startAt)]);

    const outputs = await Promise.all([run(), run()]);

    const appliedByEach = outputs.map((output) => JSON.parse(output.stdout) as string[]);
    expect(appliedByEach.flat().sort()).toEqual(migrations); // every migration applied once, by one of them
    expect((await history(url)).map((row) => row.migration_name)).toEqual(migrations);
  });

  it('refuses a database whose recorded checksum was tampered with', async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    await sql(url, `UPDATE "_prisma_migrations" SET checksum = '${'0'.repeat(64)}' WHERE migration_name = '${migrations[0]}'`);

    await expect(applyMigrations(url)).rejects.toThrow(`Migration ${migrations[0]} was changed after it was applied`);
  });

  it('refuses a migration file edited after it was applied, but not one whose line endings git changed', async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    const dir = copyOfMigrations(provider);
    const file = path.join(dir, migrations[0]!, 'migration.sql');
    const original = readFileSync(file, 'utf8');

    writeFileSync(file, original.replace(/\n/g, '\r\n'));
    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual([]);

    writeFileSync(file, `${original}\n-- edited\n`);
    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow('was changed after it was applied');
  });

  it('rolls back a failing migration, records it, and refuses to go on until it is marked rolled back', async () => {
    const url = await freshDatabase();
    const dir = copyOfMigrations(provider);
    const broken = '99990101000000_broken';
    mkdirSync(path.join(dir, broken));
    writeFileSync(path.join(dir, broken, 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER);\nINSERT INTO "no_such_table" VALUES (1);\n');

    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow(`Migration ${broken} failed and was rolled back`);
    const tables = await sql(
      url,
      provider === 'sqlite' ? `SELECT name FROM sqlite_master WHERE name = 'half_done'` : `SELECT tablename FROM pg_tables WHERE tablename = 'half_done'`,
    );
    expect(tables).toEqual([]);
    const rows = await history(url);
    expect(rows.filter((row) => row.finished_at !== null).map((row) => row.migration_name)).toEqual(migrations);
    expect(rows.find((row) => row.migration_name === broken)).toMatchObject({ finished_at: null, logs: expect.stringContaining('no_such_table') });

    await expect(applyMigrations(url, { migrationsDir: dir })).rejects.toThrow(`Migration ${broken} failed earlier`);

    writeFileSync(path.join(dir, broken, 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER);\n');
    await sql(url, `UPDATE "_prisma_migrations" SET rolled_back_at = CURRENT_TIMESTAMP WHERE migration_name = '${broken}'`);
    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual([broken]);
  });

  it('moves the VM and the exclusive key of existing jobs into their columns', async () => {
    const url = await freshDatabase();
    const jobMigration = migrations.find((name) => name.endsWith('_job_vm_and_exclusive_key'))!;
    const before = copyOfMigrations(provider);
    for (const name of migrations.filter((candidate) => candidate >= jobMigration)) rmSync(path.join(before, name), { recursive: true });
    await applyMigrations(url, { migrationsDir: before });
    const job = (id: string, kind: string, status: string, params: string, createdAt: string, target: { boxId?: string; hostId?: string } = {}) =>
      sql(url, `INSERT INTO "job" (id, kind, status, params, "createdAt", "boxId", "hostId") VALUES ('${id}', '${kind}', '${status}', '${params}', '${createdAt}', ${target.boxId ? `'${target.boxId}'` : 'NULL'}, ${target.hostId ? `'${target.hostId}'` : 'NULL'})`);
    await job('stop-1', 'vm.stop', 'running', '{"vmId":"uuid-1","vmName":"web"}', '2026-01-01T00:00:01.000Z', { hostId: 'h1' });
    await job('start-1', 'vm.start', 'queued', '{"vmId":"uuid-1","vmName":"web"}', '2026-01-01T00:00:02.000Z', { hostId: 'h1' });
    await job('old-1', 'vm.start', 'succeeded', '{"vmId":"uuid-2","vmName":"db"}', '2026-01-01T00:00:00.000Z', { hostId: 'h1' });
    await job('docker-1', 'docker', 'queued', '{}', '2026-01-01T00:00:03.000Z', { boxId: 'b1' });
    await job('clone-1', 'vm.clone-box', 'running', '{"templateId":"t","vmName":"new"}', '2026-01-01T00:00:04.000Z', { boxId: 'b2', hostId: 'h1' });

    // It, and whatever migrations came after it.
    expect(await applyMigrations(url)).toEqual(migrations.filter((name) => name >= jobMigration));
    const rows = await sql(url, 'SELECT id, "vmId", "exclusiveKey" FROM "job" ORDER BY id');
    expect(rows).toEqual([
      { id: 'clone-1', vmId: null, exclusiveKey: null },
      { id: 'docker-1', vmId: null, exclusiveKey: 'docker:b1' },
      { id: 'old-1', vmId: 'uuid-2', exclusiveKey: null },
      // Two active jobs on one VM (a race the old check lost): the older one holds the key.
      { id: 'start-1', vmId: 'uuid-1', exclusiveKey: null },
      { id: 'stop-1', vmId: 'uuid-1', exclusiveKey: 'vm:h1:uuid-1' },
    ]);
  });

  it("writes a history Prisma's schema engine reads as complete", async () => {
    const url = await freshDatabase();
    await applyMigrations(url);

    await withPrismaEngine(provider, url, async (engine) => {
      const diagnosis = await engine.diagnoseMigrationHistory({ migrationsList: migrationList(provider), optInToShadowDatabase: false, filters: noFilters });
      expect(diagnosis).toEqual({ history: null, failedMigrationNames: [], editedMigrationNames: [], hasMigrationsTable: true });
      expect(await engine.applyMigrations({ migrationsList: migrationList(provider), filters: noFilters })).toEqual({ appliedMigrationNames: [] });
    });
  });

  it("continues a history written by Prisma's schema engine", async () => {
    const url = await freshDatabase();
    await withPrismaEngine(provider, url, async (engine) => {
      expect(await engine.applyMigrations({ migrationsList: migrationList(provider), filters: noFilters })).toEqual({ appliedMigrationNames: migrations });
    });

    expect(await applyMigrations(url)).toEqual([]);
  });
});

describe('applyMigrations on sqlite, table rebuilds', () => {
  const freshDatabase = testDatabases('sqlite', 'migrate');

  it('keeps the rows referencing a table that a migration rebuilds', async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    await sql(url, `INSERT INTO "user" (id, name, email, "updatedAt") VALUES ('u1', 'Ada', 'ada@example.com', '2024-01-01T00:00:00.000+00:00')`);
    await sql(url, `INSERT INTO "box" (id, name, host, "sshUser", "ownerId", "updatedAt") VALUES ('b1', 'web', 'web.local', 'root', 'u1', '2024-01-01T00:00:00.000+00:00')`);
    await sql(url, `INSERT INTO "box_member" ("boxId", "userId") VALUES ('b1', 'u1')`);

    // What Prisma generates for most changes to a SQLite table: copy it, drop the original, rename the copy.
    const [{ sql: boxDdl }] = (await sql(url, `SELECT sql FROM sqlite_master WHERE name = 'box'`)) as [{ sql: string }];
    const dir = copyOfMigrations('sqlite');
    const rebuild = '99990101000000_rebuild_box';
    mkdirSync(path.join(dir, rebuild));
    writeFileSync(
      path.join(dir, rebuild, 'migration.sql'),
      `PRAGMA defer_foreign_keys=ON;\nPRAGMA foreign_keys=OFF;\n${boxDdl.replace('CREATE TABLE "box"', 'CREATE TABLE "new_box"')};\n` +
        `INSERT INTO "new_box" SELECT * FROM "box";\nDROP TABLE "box";\nALTER TABLE "new_box" RENAME TO "box";\n` +
        `CREATE UNIQUE INDEX "box_name_key" ON "box"("name");\nPRAGMA foreign_keys=ON;\nPRAGMA defer_foreign_keys=OFF;\n`,
    );

    expect(await applyMigrations(url, { migrationsDir: dir })).toEqual([rebuild]);
    expect(await sql(url, 'SELECT "boxId", "userId" FROM "box_member"')).toEqual([{ boxId: 'b1', userId: 'u1' }]);
  });
});

/** Prisma's own migration engine (the WebAssembly build, as prisma/create-migration.ts uses it) on the given database. */
async function withPrismaEngine(provider: DbProvider, url: string, use: (engine: SchemaEngine) => Promise<void>): Promise<void> {
  const { adapters, close } = provider === 'sqlite' ? sqliteAdapters(sqliteFilePath(url)) : postgresAdapters(url);
  try {
    await withSchemaEngine(provider, adapters, use);
  } finally {
    await close();
  }
}

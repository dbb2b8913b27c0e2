/**
 * Applies the committed migrations (prisma/migrations/<provider>/) at start-up, without Prisma's schema engine:
 * plain SQL through better-sqlite3 or pg. Bookkeeping is Prisma's own `_prisma_migrations` table, written the way
 * `prisma migrate deploy` writes it, so Prisma's tools see the same history.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { dbProvider, postgresConnectTimeoutMs, sqliteFilePath, type DbProvider } from './url';
import { errorMessage } from '../../lib/errors';

export interface ApplyMigrationsOptions {
  log?: (message: string) => void;
  /** Folder of migration folders; defaults to this repository's prisma/migrations/<provider>/. */
  migrationsDir?: string;
}

/** prisma/migrations/<provider>/, found from this file's location so the working directory does not matter. */
export function defaultMigrationsDir(provider: DbProvider): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../prisma/migrations', provider);
}

/**
 * Applies the pending migrations in name order, each in its own transaction, and returns their names (empty when the
 * database is up to date). Safe to call from several processes at once: they take turns behind a lock. Refuses to
 * run when an applied migration's file changed or when an earlier attempt failed.
 */
export async function applyMigrations(databaseUrl: string, options: ApplyMigrationsOptions = {}): Promise<string[]> {
  const provider = dbProvider(databaseUrl);
  const local = readMigrations(options.migrationsDir ?? defaultMigrationsDir(provider));
  const log = options.log ?? (() => {});
  return provider === 'sqlite' ? applySqlite(sqliteFilePath(databaseUrl), local, log) : applyPostgres(databaseUrl, local, log);
}

interface LocalMigration {
  name: string;
  sql: string;
}

/** A row of `_prisma_migrations` (the columns this runner reads). */
interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
  logs: string | null;
}

/** Prisma's own table definitions, so that `prisma migrate` accepts the table as its own. */
const migrationsTableDdl: Record<DbProvider, string> = {
  sqlite: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`,
  postgres: `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
)`,
};

const selectRows = 'SELECT migration_name, checksum, finished_at, rolled_back_at, logs FROM "_prisma_migrations" ORDER BY started_at';

function readMigrations(dir: string): LocalMigration[] {
  if (!existsSync(dir)) throw new Error(`No migrations folder at ${dir}.`);
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort((a, b) => a.localeCompare(b)) // Prisma's order
    .map((name) => {
      const file = path.join(dir, name, 'migration.sql');
      if (!existsSync(file)) throw new Error(`Migration ${name} has no migration.sql (${file}).`);
      return { name, sql: readFileSync(file, 'utf8') };
    });
}

interface History {
  pending: LocalMigration[];
  /** Applied in the database but not in the folder: a newer version of Boxyard ran on this database. */
  unknown: string[];
}

/** Checks the recorded history against the folder. Rows marked rolled back are ignored, as Prisma does. */
function readHistory(rows: MigrationRow[], local: LocalMigration[]): History {
  const live = rows.filter((row) => row.rolled_back_at === null);
  const failed = live.find((row) => row.finished_at === null);
  if (failed) {
    throw new Error(
      `Migration ${failed.migration_name} failed earlier: ${failed.logs ?? 'no log'}\n` +
        'Boxyard rolls back the migrations that fail, but other tools may leave one half-applied: check the database, ' +
        `fix the migration, then mark the attempt rolled back (prisma migrate resolve --rolled-back ${failed.migration_name}, ` +
        'or set rolled_back_at on its _prisma_migrations row) and start again.',
    );
  }
  const applied = new Map(live.map((row) => [row.migration_name, row]));
  for (const migration of local) {
    const row = applied.get(migration.name);
    if (row && !checksumMatches(migration.sql, row.checksum)) {
      throw new Error(
        `Migration ${migration.name} was changed after it was applied (its checksum no longer matches _prisma_migrations). ` +
          'Restore the original migration.sql and put the change in a new migration.',
      );
    }
  }
  const localNames = new Set(local.map((migration) => migration.name));
  return {
    pending: local.filter((migration) => !applied.has(migration.name)),
    unknown: [...applied.keys()].filter((name) => !localNames.has(name)),
  };
}

function warnUnknown(unknown: string[], log: (message: string) => void): void {
  if (unknown.length > 0) log(`the database has migrations this version does not know (${unknown.join(', ')}): was it run by a newer version?`);
}

/** A migration's SQL failed; its transaction was rolled back. */
class MigrationFailed extends Error {
  /** The database's error, kept as the failed row's `logs`. */
  readonly reason: string;

  constructor(
    readonly migration: LocalMigration,
    cause: unknown,
  ) {
    const reason = errorMessage(cause);
    super(`Migration ${migration.name} failed and was rolled back: ${reason}`, { cause });
    this.reason = reason;
  }
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

/** As Prisma compares them: git may have changed the file's line endings since it was applied. */
function checksumMatches(sql: string, recorded: string): boolean {
  return [sql, sql.replace(/\r\n/g, '\n'), sql.replace(/\n/g, '\r\n')].some((variant) => checksum(variant) === recorded);
}

// ---- SQLite ----

/** Long enough for another process to finish a migration while this one waits for the lock. */
const SQLITE_LOCK_TIMEOUT_MS = 120_000;

async function applySqlite(file: string, local: LocalMigration[], log: (message: string) => void): Promise<string[]> {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: SQLITE_LOCK_TIMEOUT_MS });
  try {
    await switchToWal(db);
    // Prisma's SQLite migrations rebuild a table by copy, DROP and rename. With foreign keys on, that DROP would
    // run the ON DELETE actions of the rows referencing the table (deleting every box's members, say). SQLite's
    // documented procedure for schema changes: keys off, change, PRAGMA foreign_key_check before committing.
    db.pragma('foreign_keys = OFF');
    const now = () => new Date().toISOString().replace('Z', '+00:00'); // the format the Prisma adapter writes

    // One exclusive transaction per migration. Each re-reads the history under the lock, so processes starting
    // together take turns and none applies a migration twice.
    const applyNext = db.transaction((): LocalMigration | null => {
      db.exec(migrationsTableDdl.sqlite);
      const history = readHistory(db.prepare(selectRows).all() as MigrationRow[], local);
      const [next] = history.pending;
      if (!next) {
        warnUnknown(history.unknown, log);
        return null;
      }
      const startedAt = now();
      try {
        db.exec(next.sql);
        const violations = db.pragma('foreign_key_check') as unknown[];
        if (violations.length > 0) throw new Error(`${violations.length} rows violate foreign keys, e.g. ${JSON.stringify(violations[0])}`);
      } catch (error) {
        throw new MigrationFailed(next, error);
      }
      db.prepare(
        'INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, applied_steps_count) VALUES (?, ?, ?, ?, ?, 1)',
      ).run(randomUUID(), checksum(next.sql), startedAt, now(), next.name);
      return next;
    }).exclusive;

    const applied: string[] = [];
    for (;;) {
      const started = Date.now();
      let next: LocalMigration | null;
      try {
        next = applyNext();
      } catch (error) {
        // Recorded as Prisma records a failed migration (finished_at empty), so that the next start stops here too.
        if (error instanceof MigrationFailed) {
          db.prepare('INSERT INTO "_prisma_migrations" (id, checksum, started_at, migration_name, logs) VALUES (?, ?, ?, ?, ?)').run(
            randomUUID(),
            checksum(error.migration.sql),
            now(),
            error.migration.name,
            error.reason,
          );
        }
        throw error;
      }
      if (!next) return applied;
      log(`applied migration ${next.name} (${Date.now() - started} ms)`);
      applied.push(next.name);
    }
  } finally {
    db.close();
  }
}

/**
 * WAL mode is stored in the file, so this switches a new database once. The switch needs the file to itself, and
 * SQLite answers SQLITE_BUSY at once, without using the busy timeout, while another process opens the same new
 * database: retry until the lock timeout.
 */
async function switchToWal(db: Database.Database): Promise<void> {
  const deadline = Date.now() + SQLITE_LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw error;
      await setTimeout(20);
    }
  }
}

// ---- PostgreSQL ----

/** The advisory lock key `prisma migrate` takes, so this runner and Prisma's tools also exclude each other. */
const PRISMA_ADVISORY_LOCK_KEY = 72707369;

async function applyPostgres(databaseUrl: string, local: LocalMigration[], log: (message: string) => void): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: postgresConnectTimeoutMs(databaseUrl) });
  await client.connect();
  try {
    const { rows: locked } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [PRISMA_ADVISORY_LOCK_KEY]);
    if (!locked[0]?.locked) {
      log('waiting for another process to finish migrating the database');
      await client.query('SELECT pg_advisory_lock($1)', [PRISMA_ADVISORY_LOCK_KEY]);
    }
    // The lock is held from here on, so the history cannot change under us; it goes with the session at the end.
    await client.query(migrationsTableDdl.postgres);
    const { rows } = await client.query<MigrationRow>(selectRows);
    const history = readHistory(rows, local);
    warnUnknown(history.unknown, log);
    const applied: string[] = [];
    for (const migration of history.pending) {
      const started = Date.now();
      try {
        await client.query('BEGIN');
        try {
          // No parameters: pg uses the simple-query protocol, which runs the whole multi-statement file.
          await client.query(migration.sql);
        } catch (error) {
          throw new MigrationFailed(migration, error);
        }
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, started_at, finished_at, migration_name, applied_steps_count)
           VALUES ($1, $2, now(), clock_timestamp(), $3, 1)`,
          [randomUUID(), checksum(migration.sql), migration.name],
        );
        await client.query('COMMIT');
      } catch (error) {
        // If the connection itself broke, the server has rolled back already: keep the original error.
        await client.query('ROLLBACK').catch(() => {});
        // Recorded as Prisma records a failed migration (finished_at empty), so that the next start stops here too.
        if (error instanceof MigrationFailed) {
          await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs) VALUES ($1, $2, $3, $4)', [
            randomUUID(),
            checksum(migration.sql),
            migration.name,
            error.reason,
          ]);
        }
        throw error;
      }
      log(`applied migration ${migration.name} (${Date.now() - started} ms)`);
      applied.push(migration.name);
    }
    return applied;
  } finally {
    await client.end();
  }
}

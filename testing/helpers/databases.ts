/** Test helpers: empty databases for both providers, and plain SQL to look inside them. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll } from 'vitest';
import { createScratchPgDatabase } from '../../server/db/scratch-pg';
import { dbProvider, sqliteFilePath, type DbProvider } from '../../server/db/url';

export const providers: DbProvider[] = ['sqlite', 'postgres'];

const pgServerUrl = process.env.BOXYARD_TEST_PG_URL ?? 'postgresql://boxyard:boxyard@127.0.0.1:5432/postgres';

/**
 * Returns a function that creates an empty database (a temporary SQLite file, or a uniquely named PostgreSQL
 * database) each time it is called; all of them are dropped after the calling describe block. An unreachable
 * PostgreSQL server fails the tests that need it: it never skips them.
 */
export function testDatabases(provider: DbProvider, label: string): () => Promise<string> {
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    await Promise.all(drops.map((drop) => drop()));
  });
  return async () => {
    if (provider === 'sqlite') {
      const dir = mkdtempSync(path.join(os.tmpdir(), `boxyard-${label}-`));
      drops.push(async () => rmSync(dir, { recursive: true, force: true }));
      return `file:${path.join(dir, 'test.db')}`;
    }
    try {
      const database = await createScratchPgDatabase(pgServerUrl, `test_${label}`);
      drops.push(database.drop);
      return database.url;
    } catch (error) {
      throw new Error(
        `${(error as Error).message}\nThese tests need PostgreSQL with a role that may create databases: start it, or set BOXYARD_TEST_PG_URL.`,
        { cause: error },
      );
    }
  };
}

/** Runs one SQL statement outside Prisma (`?` placeholders on SQLite, `$1` on PostgreSQL) and returns its rows. */
export async function sql(databaseUrl: string, statement: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (dbProvider(databaseUrl) === 'sqlite') {
    const db = new Database(sqliteFilePath(databaseUrl));
    try {
      const prepared = db.prepare(statement);
      if (prepared.reader) return prepared.all(...params) as Record<string, unknown>[];
      prepared.run(...params);
      return [];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(statement, params)).rows;
  } finally {
    await client.end();
  }
}

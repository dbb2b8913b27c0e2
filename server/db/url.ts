import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The two databases Boxyard runs on; also the folder names under prisma/ and prisma/migrations/. */
export type DbProvider = 'sqlite' | 'postgres';

/** `file:` URLs are SQLite (the embedded default), `postgres://` and `postgresql://` are PostgreSQL. */
export function dbProvider(databaseUrl: string): DbProvider {
  if (databaseUrl.startsWith('file:')) return 'sqlite';
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) return 'postgres';
  // Never echo the URL: it may hold a password.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(databaseUrl)?.[0] ?? 'a URL without a scheme';
  throw new Error(
    `Unsupported DATABASE_URL (${scheme}): use file:<path> for SQLite or postgresql://user:password@host:port/database for PostgreSQL.`,
  );
}

/**
 * The database file of a `file:` URL: `file:./data/boxyard.db` (relative to the working directory, as Prisma does at
 * run time), `file:/abs/boxyard.db` or `file:///abs/boxyard.db`. A `?query` (Prisma's old connection options) is ignored.
 */
export function sqliteFilePath(databaseUrl: string): string {
  if (dbProvider(databaseUrl) !== 'sqlite') throw new Error('Not a SQLite (file:) database URL.');
  const withoutQuery = databaseUrl.replace(/\?.*$/, '');
  const filePath = withoutQuery.startsWith('file://') ? fileURLToPath(withoutQuery) : withoutQuery.slice('file:'.length);
  // Each connection to ":memory:" would be a separate empty database: migrations would never reach the client.
  if (filePath === '' || filePath === ':memory:') throw new Error('A SQLite DATABASE_URL must name a file, e.g. file:./data/boxyard.db.');
  return path.resolve(filePath);
}

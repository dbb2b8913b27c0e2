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

/** How long a new PostgreSQL connection may take before it fails, unless the URL says otherwise. */
const DEFAULT_PG_CONNECT_TIMEOUT_S = 10;

/**
 * The connect timeout of a PostgreSQL URL in milliseconds: its `connect_timeout` (seconds, as libpq reads it) or
 * 10 s. node-postgres has none by default, so a database that accepts TCP and never answers (a hung server, a
 * half-open path) would hold a request forever instead of failing it with "cannot reach its database".
 */
export function postgresConnectTimeoutMs(databaseUrl: string): number {
  const query = databaseUrl.includes('?') ? databaseUrl.slice(databaseUrl.indexOf('?') + 1) : '';
  const value = new URLSearchParams(query).get('connect_timeout');
  if (value === null) return DEFAULT_PG_CONNECT_TIMEOUT_S * 1000;
  if (!/^[1-9]\d{0,4}$/.test(value)) {
    throw new Error(`connect_timeout in DATABASE_URL must be a whole number of seconds from 1, e.g. connect_timeout=${DEFAULT_PG_CONNECT_TIMEOUT_S}.`);
  }
  return Number(value) * 1000;
}

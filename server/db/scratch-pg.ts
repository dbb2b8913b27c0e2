import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScratchPgDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/**
 * Creates a uniquely named, empty database on the PostgreSQL server of `serverUrl` (any database there the role can
 * connect to, usually `postgres`; the role needs CREATEDB). Used by tests and by the migration tooling, which must
 * never diff against a real database.
 */
export async function createScratchPgDatabase(serverUrl: string, label: string): Promise<ScratchPgDatabase> {
  const name = `boxyard_${label}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63);
  await withServerConnection(serverUrl, (client) => client.query(`CREATE DATABASE "${name}"`));

  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withServerConnection(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => {}),
  };
}

async function withServerConnection<T>(serverUrl: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    // Connection refusals arrive as an AggregateError with an empty message: fall back to its code.
    const { message, code } = error as Error & { code?: string };
    throw new Error(`PostgreSQL is not reachable at ${withoutPassword(serverUrl)}: ${message || code}`, { cause: error });
  }
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function withoutPassword(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (url.password) url.password = '***';
  return url.toString();
}

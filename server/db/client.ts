import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient as PostgresPrismaClient } from './generated/postgres/client';
import { Prisma, PrismaClient as SqlitePrismaClient } from './generated/sqlite/client';
import { dbProvider, postgresConnectTimeoutMs, sqliteFilePath } from './url';
import { AppError, DATABASE_UNAVAILABLE_MESSAGE } from '../errors';

export { dbProvider, type DbProvider } from './url';

/**
 * The one database type the rest of the server uses, whatever the provider.
 *
 * Both generated clients come from the same models (prisma/models.prisma), so their model APIs match. The SQLite
 * client's type is the canonical one because it is the common subset: the PostgreSQL client only adds
 * provider-specific options (`mode: 'insensitive'` in string filters, more transaction isolation levels) that
 * would fail on SQLite.
 */
export type Db = SqlitePrismaClient;

/** How long a SQLite statement waits for another connection's lock (e.g. a migration) before failing with SQLITE_BUSY. */
const SQLITE_BUSY_TIMEOUT_MS = 15_000;

/** A Prisma client for `file:` (SQLite) or `postgres(ql)://` URLs; other URLs throw. Call `$disconnect()` when done. */
export function createDb(databaseUrl: string): Db {
  switch (dbProvider(databaseUrl)) {
    case 'sqlite': {
      const file = sqliteFilePath(databaseUrl);
      mkdirSync(path.dirname(file), { recursive: true });
      return new SqlitePrismaClient({ adapter: sqliteAdapter(file) });
    }
    case 'postgres':
      // Not assignable as is, only because the PostgreSQL client accepts more (isolation levels other than
      // Serializable, `mode` in string filters): the cast narrows it to the API both providers share (see Db).
      return new PostgresPrismaClient({
        adapter: new PrismaPg({ connectionString: databaseUrl, connectionTimeoutMillis: postgresConnectTimeoutMs(databaseUrl) }),
      }) as Db;
  }
}

/** True for Prisma's unique-constraint violation (P2002), thrown the same way by both clients. */
export function isUniqueViolation(error: unknown): boolean {
  // Both generated clients take their error classes from the shared @prisma/client runtime, so one instanceof covers both.
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
}

/** The driver adapter's kinds for a connection that could not be made or was lost (@prisma/adapter-pg). */
const UNREACHABLE_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** Prisma's codes for the same: can't reach, timed out reaching, server closed the connection, pool timeout. */
const UNREACHABLE_CODES = new Set(['P1001', 'P1002', 'P1017', 'P2024']);

/**
 * node-postgres's own errors for a connection lost under a query (pg's lib/client.js) or not had within the connect
 * timeout (pg-pool), which Prisma passes on unwrapped: they carry no code, so their fixed wording is the only way to
 * tell them (pinned by client.test.ts's restart and timeout cases).
 */
const PG_CONNECTION_LOST = new Set([
  'Connection terminated unexpectedly',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
]);

/**
 * True when `error`, or an error it was wrapped in (better-auth keeps the cause), says the database did not answer
 * rather than refused the statement: the server is down or restarting (PostgreSQL's class 57P: shut down, cannot
 * connect now), or the connection was lost. The same request may work in a moment.
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause instanceof Prisma.PrismaClientInitializationError && UNREACHABLE_CODES.has(cause.errorCode ?? '')) return true;
    if (cause.constructor === Error && PG_CONNECTION_LOST.has(cause.message)) return true;
    // The adapter's own error, passed on unwrapped by raw queries and batch transactions (its class is not exported
    // by a runtime dependency of ours: known by its name and its payload).
    if (cause.name === 'DriverAdapterError' && driverSaysUnreachable(cause.cause as DriverErrorPayload | undefined)) return true;
    if (!(cause instanceof Prisma.PrismaClientKnownRequestError)) continue;
    if (UNREACHABLE_CODES.has(cause.code)) return true;
    if (driverSaysUnreachable((cause.meta?.driverAdapterError as { cause?: DriverErrorPayload } | undefined)?.cause)) return true;
  }
  return false;
}

/** The AppError every edge answers with when `error` is the database not answering (isDatabaseUnreachable); else null. */
export function databaseUnavailable(error: unknown): AppError | null {
  return isDatabaseUnreachable(error) ? new AppError('DATABASE_UNAVAILABLE', DATABASE_UNAVAILABLE_MESSAGE, { cause: error }) : null;
}

/** What the driver adapter says went wrong (@prisma/driver-adapter-utils' error payload). */
interface DriverErrorPayload {
  kind?: string;
  code?: string;
}

function driverSaysUnreachable(driver: DriverErrorPayload | undefined): boolean {
  if (!driver?.kind) return false;
  return UNREACHABLE_KINDS.has(driver.kind) || (driver.kind === 'postgres' && Boolean(driver.code?.startsWith('57P')));
}

function sqliteAdapter(file: string) {
  const factory = new PrismaBetterSqlite3(
    { url: file, timeout: SQLITE_BUSY_TIMEOUT_MS },
    // Pinned rather than left to the adapter's default: one file must never mix two timestamp encodings.
    { timestampFormat: 'iso8601' },
  );
  // The adapter opens its own connection; set the per-connection pragmas on it before Prisma sends any query.
  // WAL lets readers run while a write is in progress (the status poller writes while pages read).
  return {
    provider: 'sqlite' as const,
    adapterName: factory.adapterName,
    async connect() {
      const adapter = await factory.connect();
      await adapter.executeScript('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;');
      return adapter;
    },
  };
}

// The terminal session directory on PostgreSQL: where a session is as another process sees it, and the pruning of
// sessions that died with their process (kept long enough for their browser to be told, then removed).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { testDatabases } from '../../testing/helpers/databases';
import { until } from '../../testing/helpers/wait';
import { ProcessRegistry } from './registry';
import { TerminalSessionDirectory } from './terminal-sessions';

describe('terminal session directory on postgres', () => {
  const newDatabase = testDatabases('postgres', 'terminal_sessions');
  let db: Db;
  const started: ProcessRegistry[] = [];
  /** A process start; `silent` ones register and never renew, so they are dead once their 1.5 s run out. */
  const processStart = async (runnerId: string, options: { silent?: boolean } = {}) => {
    const registry = new ProcessRegistry(db, { runnerId, heartbeatMs: options.silent ? 3_600_000 : 200, ttlMs: 1_500 });
    await registry.start();
    await registry.advertise(`127.0.0.1:${started.length + 1}`);
    started.push(registry);
    return { registry, directory: new TerminalSessionDirectory(db, registry, 'the-internal-key') };
  };
  const recorded = async () => (await db.$queryRaw<{ sessionId: string }[]>`SELECT "sessionId" FROM terminal_session ORDER BY "sessionId"`).map((row) => row.sessionId);

  beforeEach(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((one) => one.stop()));
    await db.$disconnect();
  });

  it('keeps a lost session for its browser to be told, prunes it later, and at once where its process stopped', async () => {
    const live = await processStart('live');
    expect(await live.directory.claim('live-session', 'user-1', 'box-1')).toBe(true);
    // A process that died (its registration ran out) and one whose runner id started again since.
    const died = await processStart('died', { silent: true });
    expect(await died.directory.claim('died-session', 'user-1', 'box-1')).toBe(true);
    const before = await processStart('restarted', { silent: true });
    expect(await before.directory.claim('restarted-session', 'user-1', 'box-1')).toBe(true);
    const lost = async (session: string) => (await live.directory.locate(session)).kind === 'lost';
    await until(async () => (await lost('died-session')) && (await lost('restarted-session')), 'the silent processes to run out', 10_000);
    await processStart('restarted');
    // One that stopped (its row is gone) but could not remove its session.
    const stopped = await processStart('stopped');
    expect(await stopped.directory.claim('stopped-session', 'user-1', 'box-1')).toBe(true);
    await db.$executeRaw`DELETE FROM dashboard_process WHERE "runnerId" = 'stopped'`;

    expect(await live.directory.locate('live-session')).toEqual({ kind: 'here' });
    expect(await stopped.directory.locate('live-session')).toMatchObject({ kind: 'elsewhere', runnerId: 'live' });
    expect(await live.directory.locate('restarted-session')).toEqual({ kind: 'lost', userId: 'user-1', boxId: 'box-1' });
    // Within the hour a lost session is kept: only the stopped process's row goes.
    expect(await live.directory.pruneLost()).toBe(1);
    expect(await recorded()).toEqual(['died-session', 'live-session', 'restarted-session']);
    // Past it (0 here) the lost ones go too; a live process's session never does.
    expect(await live.directory.pruneLost(0)).toBe(2);
    expect(await recorded()).toEqual(['live-session']);
  }, 30_000);
});

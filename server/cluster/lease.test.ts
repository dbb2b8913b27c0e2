// The fleet lease on SQLite and PostgreSQL: one holder among several processes (even when they all claim at once),
// a clean hand-over on stop, a take-over after a holder went silent, and the silent one knowing it lost; on
// PostgreSQL, processes whose clocks are 30 s apart never both hold it (the database's clock decides).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { fakeClock } from '../../testing/helpers/clock';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { until } from '../../testing/helpers/wait';
import { Lease } from './lease';

const TTL_MS = 600;

describe.each(providers)('lease on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'lease');
  let db: Db;
  let name = 0;
  /** Their common time: a test moves it on rather than waiting out the ttl. */
  const clock = fakeClock(Date.now());
  /** Processes contending for one fresh lease name (each test its own). */
  const contenders = (count: number) => {
    name++;
    return Array.from({ length: count }, (_, i) => new Lease(db, provider, `lease-${name}`, { ttlMs: TTL_MS, renewMs: TTL_MS / 3, holder: `process-${i}`, now: clock.now }));
  };

  beforeAll(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });
  afterAll(() => db.$disconnect());

  it('eight processes claiming at once: exactly one holds it, and renewals keep it there', async () => {
    const leases = contenders(8);
    const won = await Promise.all(leases.map((lease) => lease.tryClaim()));
    expect(won.filter(Boolean)).toHaveLength(1);
    const holder = leases[won.indexOf(true)]!;
    for (let round = 0; round < 3; round++) {
      expect(await Promise.all(leases.map((lease) => lease.tryClaim()))).toEqual(leases.map((lease) => lease === holder));
    }
    expect(leases.filter((lease) => lease.held())).toEqual([holder]);
    expect(await db.lease.findUnique({ where: { name: holder.name } })).toMatchObject({ holder: holder.holder });
  });

  it('stop() hands it over at once: the next claim of another process wins', async () => {
    const [first, second] = contenders(2);
    await first!.start();
    await second!.start();
    expect([first!.held(), second!.held()]).toEqual([true, false]);
    await first!.stop();
    expect(first!.held()).toBe(false);
    expect(await second!.tryClaim()).toBe(true);
    await second!.stop();
  });

  it('a holder that went silent (crashed, cut off) loses it after the ttl, and knows it', async () => {
    const [silent, other] = contenders(2);
    expect(await silent!.tryClaim()).toBe(true); // and then never renews
    expect(await other!.tryClaim()).toBe(false);
    await clock.sleep(TTL_MS + 100);
    expect(silent!.held()).toBe(false);
    // On PostgreSQL the stored expiry runs on the database's clock, which the fake clock does not move: wait it out.
    await until(() => other!.tryClaim(), 'the other process to take over the expired lease');
    expect(await silent!.tryClaim()).toBe(false);
  });
});

describe('lease on postgres with clocks 30 s apart', () => {
  const newDatabase = testDatabases('postgres', 'lease_skew');
  let db: Db;
  const SKEW_MS = 30_000;

  beforeAll(async () => {
    const url = await newDatabase();
    await applyMigrations(url);
    db = createDb(url);
  });
  afterAll(() => db.$disconnect());

  it.each([
    ['ahead', SKEW_MS],
    ['behind', -SKEW_MS],
  ])('a process whose clock is 30 s %s never takes the lease from a live holder, and takes it once the holder stops renewing', async (_, skew) => {
    const onTime = new Lease(db, 'postgres', `skew${skew}`, { ttlMs: TTL_MS, renewMs: TTL_MS / 3, holder: 'on-time' });
    const skewed = new Lease(db, 'postgres', `skew${skew}`, { ttlMs: TTL_MS, renewMs: TTL_MS / 3, holder: 'skewed', now: () => Date.now() + skew });
    expect(await onTime.tryClaim()).toBe(true);
    // Several ttls of renewals: by its own clock the skewed one would see the holder's expiry long past (or far off).
    const deadline = Date.now() + 3 * TTL_MS;
    while (Date.now() < deadline) {
      expect(await skewed.tryClaim()).toBe(false);
      expect(await onTime.tryClaim()).toBe(true);
      expect([onTime.held(), skewed.held()]).toEqual([true, false]);
    }
    // The holder goes silent: the skewed one takes over after the ttl by the database's clock, and the silent one lost it.
    const silentSince = Date.now();
    await until(() => skewed.tryClaim(), 'the skewed process to take over the expired lease');
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(TTL_MS - 50);
    expect(await onTime.tryClaim()).toBe(false);
    expect(await db.lease.findUnique({ where: { name: `skew${skew}` } })).toMatchObject({ holder: 'skewed' });
  });
});

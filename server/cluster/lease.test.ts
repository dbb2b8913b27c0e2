// The fleet lease on SQLite and PostgreSQL: one holder among several processes (even when they all claim at once),
// a clean hand-over on stop, a take-over after a holder went silent, and the silent one knowing it lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../db/client';
import { applyMigrations } from '../db/migrate';
import { fakeClock } from '../../testing/helpers/clock';
import { providers, testDatabases } from '../../testing/helpers/databases';
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
    return Array.from({ length: count }, (_, i) => new Lease(db, `lease-${name}`, { ttlMs: TTL_MS, renewMs: TTL_MS / 3, holder: `process-${i}`, now: clock.now }));
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
    expect(await other!.tryClaim()).toBe(true);
    expect(await silent!.tryClaim()).toBe(false);
  });
});

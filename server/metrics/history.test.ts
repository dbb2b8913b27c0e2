// Rollup (ring -> 1-minute points -> 15-minute points), gaps and retention, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../db/client';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { MINUTE, prunePoints, QUARTER, rollupMinutes, rollupQuarters, storedSeries } from './history';
import type { RingEntry } from './sampler';
import { fakeSample, seededMetricsDatabase } from '../../testing/helpers/metrics';


const sample = fakeSample;

describe.each(providers)('metric history on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'metrics');
  let db: Db;
  let boxId: string;
  // A fixed quarter-hour boundary far from "now" so retention is explicit.
  const t0 = Date.UTC(2026, 10, 20, 12, 0, 0);

  beforeAll(async () => {
    const seeded = await seededMetricsDatabase(newDatabase);
    db = seeded.db;
    boxId = await seeded.addBox('b1');
  });
  afterAll(() => db.$disconnect());

  it('rolls complete minutes into points (means, maxima), leaves a gap minute without a row, and is idempotent', async () => {
    const entries: RingEntry[] = [
      sample(t0 + 1_000, null), // first after connect: not measured
      sample(t0 + 10_000, 10),
      sample(t0 + 40_000, 30, { sessions: 2, diskUsedPct: 41 }),
      { at: t0 + 61_000, gap: true, reason: 'connection dropped' },
      // minute 2 has nothing: a gap
      sample(t0 + 185_000, 50, { containers: 3 }),
      sample(t0 + 250_000, 70), // minute 4 is not complete at upTo
    ];
    const upTo = t0 + 240_000 + 5_000;
    const next = await rollupMinutes(db, boxId, entries, 0, upTo);
    expect(next).toBe(t0 + 240_000);
    const again = await rollupMinutes(db, boxId, entries, 0, upTo); // same again: upserts, no duplicates
    expect(again).toBe(next);
    const rows = await db.metricPoint.findMany({ where: { boxId, resolution: MINUTE }, orderBy: { at: 'asc' } });
    expect(rows.map((r) => r.at.getTime())).toEqual([t0, t0 + 180_000]);
    expect(rows[0]).toMatchObject({ cpuPct: 20, sessions: 2, diskUsedPct: 41, samples: 2 });
    expect(rows[1]).toMatchObject({ cpuPct: 50, containers: 3, samples: 1 });

    const series = await storedSeries(db, boxId, MINUTE, t0, t0 + 600_000);
    // The missing minutes come back as one null point: a break in the chart, not a zero.
    expect(series.map((p) => [p.at - t0, p.cpuPct])).toEqual([
      [0, 20],
      [60_000, null],
      [180_000, 50],
    ]);
  });

  it('rolls minutes into quarters weighted by sample counts', async () => {
    await db.metricPoint.create({ data: { boxId, resolution: MINUTE, at: new Date(t0 + 600_000), cpuPct: 90, memUsedBytes: 100, memTotalBytes: 1000, load1: 1, samples: 7, sessions: 0, containers: 0 } });
    const written = await rollupQuarters(db, t0 + 900_000 + 1, 1);
    expect(written).toBe(1);
    const quarter = await db.metricPoint.findUniqueOrThrow({ where: { boxId_resolution_at: { boxId, resolution: QUARTER, at: new Date(t0) } } });
    // (20*2 + 50*1 + 90*7) / 10
    expect(quarter.cpuPct).toBeCloseTo(72, 6);
    expect(quarter.samples).toBe(10);
    expect(quarter.sessions).toBe(2);
  });

  it('prunes 1-minute points after a day and 15-minute points after a month', async () => {
    const dayLater = t0 + 24 * 3600_000 + 200_000;
    expect(await prunePoints(db, dayLater)).toBe(2); // minutes 0 and 3 (minute 10 is 1 s inside the day)
    expect(await db.metricPoint.count({ where: { boxId, resolution: QUARTER } })).toBe(1);
    expect(await prunePoints(db, t0 + 31 * 24 * 3600_000)).toBe(2);
    expect(await db.metricPoint.count({ where: { boxId } })).toBe(0);
  });

  it('points go with their box', async () => {
    await db.metricPoint.create({ data: { boxId, resolution: MINUTE, at: new Date(t0), cpuPct: 1, memUsedBytes: 1, memTotalBytes: 1, load1: 0, samples: 1 } });
    await db.box.delete({ where: { id: boxId } });
    expect(await db.metricPoint.count()).toBe(0);
  });
});

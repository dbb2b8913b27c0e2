// The fleet sparklines and the box chart after a dashboard restart: the ring is empty (or short), so the minutes it
// does not cover come from the stored 1-minute points, in one query for all boxes; gaps stay null, never zero.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionUser } from '../boxes/access';
import type { Db } from '../db/client';
import { providers, testDatabases } from '../../testing/helpers/databases';
import { MINUTE, rollupMinutes } from './history';
import type { RingEntry } from './sampler';
import { fakeSample, seededMetricsDatabase } from '../../testing/helpers/metrics';
import { boxSeries, fleetMetrics, sparklines, type FleetMetricsSource, type RingReader } from './views';

const MIN = 60_000;

const sample = fakeSample;

/** Rings by box id, as the sampler would hold them; a box not named has an empty ring (just restarted). */
function rings(byBox: Record<string, RingEntry[]> = {}): RingReader {
  return { recent: (boxId, since = 0) => (byBox[boxId] ?? []).filter((entry) => entry.at >= since) };
}

/** The database, counting the reads of MetricPoint (the sparklines must read it at most once per page view). */
function counting(db: Db): { db: Db; metricPointReads: () => number } {
  let reads = 0;
  const metricPoint = new Proxy(db.metricPoint, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        reads++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const wrapped = new Proxy(db, { get: (target, prop, receiver) => (prop === 'metricPoint' ? metricPoint : Reflect.get(target, prop, receiver)) });
  return { db: wrapped, metricPointReads: () => reads };
}

describe.each(providers)('sparklines and box series from stored points on %s', (provider) => {
  const newDatabase = testDatabases(provider, 'views');
  let db: Db;
  let admin: SessionUser;
  let b1: string;
  let b2: string;
  let b3: string;
  // "Now" is 30 s into a minute: the window is the 59 complete minutes before it and the current one.
  const now = Date.UTC(2026, 10, 20, 12, 0, 30);
  const start = Date.UTC(2026, 10, 20, 11, 1, 0);
  const slot = (i: number) => start + i * MIN;
  /** A sparkline: null everywhere but the given slots. */
  const spark = (values: Record<number, number>) => Array.from({ length: 60 }, (_, i) => values[i] ?? null);

  /** Stores 1-minute points through the real rollup: two samples per minute whose mean is the wanted value. */
  async function storeMinutes(boxId: string, minutes: Record<number, number>): Promise<void> {
    const entries: RingEntry[] = Object.entries(minutes)
      .map(([i, cpu]) => [slot(Number(i)), cpu] as const)
      .sort((a, b) => a[0] - b[0])
      .flatMap(([at, cpu]) => [sample(at + 5_000, cpu - 1), sample(at + 35_000, cpu + 1)]);
    await rollupMinutes(db, boxId, entries, 0, entries[entries.length - 1]!.at + MIN);
  }

  beforeAll(async () => {
    const seeded = await seededMetricsDatabase(newDatabase);
    db = seeded.db;
    admin = seeded.admin;
    b1 = await seeded.addBox('b1');
    b2 = await seeded.addBox('b2');
    b3 = await seeded.addBox('b3');
    // b1: four minutes spread over the hour, with a missing minute (slot 12) between 11 and 13.
    await storeMinutes(b1, { 0: 12, 10: 30, 11: 50.5, 13: 7.25, 40: 7 });
    // b2: one minute before the window (not shown) and one near its end.
    await storeMinutes(b2, { [-1]: 80, 58: 90 });
    // b3: nothing stored, nothing sampled.
  });
  afterAll(() => db.$disconnect());

  it('with empty rings (just restarted) shows the stored minutes at their slots, null elsewhere, in one query for all boxes', async () => {
    const { db: countedDb, metricPointReads } = counting(db);
    const sparks = await sparklines(countedDb, rings(), [b1, b2, b3], now);
    expect(metricPointReads()).toBe(1);
    expect(sparks.get(b1)).toEqual(spark({ 0: 12, 10: 30, 11: 50.5, 13: 7.3, 40: 7 })); // rounded to 0.1 like the ring means
    expect(sparks.get(b1)![12]).toBeNull(); // the missing minute is a gap, not a zero
    expect(sparks.get(b2)).toEqual(spark({ 58: 90 }));
    expect(sparks.get(b3)).toEqual(spark({}));
  });

  it('takes the recent part from the ring and the older part from the stored points', async () => {
    // b1 restarted at slot 50 + 20 s; the old process had rolled up all of minute 50 before it stopped.
    await storeMinutes(b1, { 50: 70, 56: 55 });
    const ring1: RingEntry[] = [
      sample(slot(50) + 20_000, 60), // partial minute 50: the stored full minute wins
      sample(slot(51) + 10_000, 61),
      sample(slot(51) + 40_000, 63),
      { at: slot(53) + 1_000, gap: true, reason: 'connection dropped' },
      sample(slot(55) + 5_000, null), // first sample after reconnecting: not measured
      sample(slot(56) + 5_000, 5), // covered by the ring: the ring's value, not the stored 55
      sample(slot(59) + 10_000, 9), // the current minute, never stored yet
    ];
    // b2's ring reaches back before the window: it covers the whole hour, nothing stored is used for it.
    const ring2: RingEntry[] = [sample(start - 30_000, 1), sample(slot(3) + 1_000, 20)];
    const { db: countedDb, metricPointReads } = counting(db);
    const sparks = await sparklines(countedDb, rings({ [b1]: ring1, [b2]: ring2 }), [b1, b2, b3], now);
    expect(metricPointReads()).toBe(1);
    expect(sparks.get(b1)).toEqual(spark({ 0: 12, 10: 30, 11: 50.5, 13: 7.3, 40: 7, 50: 70, 51: 62, 56: 5, 59: 9 }));
    expect(sparks.get(b2)).toEqual(spark({ 3: 20 }));
    expect(sparks.get(b3)).toEqual(spark({}));

    // When every ring covers the hour there is no query at all.
    const again = counting(db);
    expect((await sparklines(again.db, rings({ [b2]: ring2 }), [b2], now)).get(b2)).toEqual(spark({ 3: 20 }));
    expect(again.metricPointReads()).toBe(0);
  });

  it('the fleet page rows carry the filled sparklines (one MetricPoint query per page view)', async () => {
    const source: FleetMetricsSource = {
      clock: { now: () => now },
      settings: { busyWatts: 15, vpsCostPerHour: 0.05 },
      idleState: () => ({ state: 'unknown' }),
      sampler: { ...rings(), latest: () => null },
      ports: { get: () => ({ ports: null, since: null }) },
    };
    const { db: countedDb, metricPointReads } = counting(db);
    const fleet = await fleetMetrics(countedDb, source, admin);
    expect(metricPointReads()).toBe(1);
    const byId = new Map(fleet.rows.map((row) => [row.boxId, row.spark]));
    expect(byId.get(b1)).toEqual(spark({ 0: 12, 10: 30, 11: 50.5, 13: 7.3, 40: 7, 50: 70, 56: 55 }));
    expect(byId.get(b2)).toEqual(spark({ 58: 90 }));
    expect(byId.get(b3)).toEqual(spark({}));
  });

  it('box chart: stored minutes, then a break, then the ring that started after the restart', async () => {
    const from = slot(0);
    const to = now;
    // b2's stored points in range: minute 58 only. The ring starts (restart) at slot 59 + 10 s, after the stored end.
    const ring: RingEntry[] = [sample(slot(59) + 10_000, 33), sample(slot(59) + 20_000, 34)];
    const series = await boxSeries(db, { sampler: rings({ [b2]: ring }) }, admin, { boxId: b2, from, to });
    expect(series.resolution).toBe(MINUTE);
    expect(series.points.map((p) => [p.at - from, p.cpuPct])).toEqual([
      [58 * MIN, 90],
      [59 * MIN, null], // the unknown time between the last stored minute and the first new sample
      [59 * MIN + 10_000, 33],
      [59 * MIN + 20_000, 34],
    ]);

    // A ring that reaches back over the stored end carries straight on, without a break.
    const continuous: RingEntry[] = [sample(slot(58) + 50_000, 91), sample(slot(59) + 5_000, 35)];
    const joined = await boxSeries(db, { sampler: rings({ [b2]: continuous }) }, admin, { boxId: b2, from, to });
    expect(joined.points.map((p) => [p.at - from, p.cpuPct])).toEqual([
      [58 * MIN, 90],
      [59 * MIN + 5_000, 35],
    ]);
  });
});

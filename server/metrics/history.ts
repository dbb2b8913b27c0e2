import type { Db } from '../db/client';
import type { Sample } from './parse';
import type { RingEntry } from './sampler';

export const MINUTE = 60;
export const QUARTER = 900;
/** How long each resolution is kept. */
export const RETENTION_MS = { [MINUTE]: 24 * 3600_000, [QUARTER]: 30 * 24 * 3600_000 } as const;

export interface PointFigures {
  cpuPct: number;
  memUsedBytes: number;
  memTotalBytes: number;
  load1: number;
  diskUsedPct: number | null;
  netRxBps: number | null;
  netTxBps: number | null;
  sessions: number;
  containers: number;
  hostCpuPct: number | null;
  samples: number;
}

const mean = (values: number[]) => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : null);
const weighted = (pairs: [number | null, number][]) => {
  const known = pairs.filter((p): p is [number, number] => p[0] !== null);
  const weight = known.reduce((a, [, w]) => a + w, 0);
  return weight ? known.reduce((a, [v, w]) => a + v * w, 0) / weight : null;
};

/** One minute's samples as one point; null when none of them had a measured CPU (only gaps or first samples). */
export function aggregateSamples(samples: Sample[]): PointFigures | null {
  const measured = samples.filter((s) => s.cpuPct !== null && s.memUsedBytes !== null && s.memTotalBytes !== null);
  if (!measured.length) return null;
  const last = measured[measured.length - 1]!;
  const disk = [...samples].reverse().find((s) => s.diskUsedPct !== null)?.diskUsedPct ?? null;
  return {
    cpuPct: mean(measured.map((s) => s.cpuPct!))!,
    memUsedBytes: mean(measured.map((s) => s.memUsedBytes!))!,
    memTotalBytes: last.memTotalBytes!,
    load1: mean(measured.map((s) => s.load1 ?? 0))!,
    diskUsedPct: disk,
    netRxBps: mean(measured.flatMap((s) => (s.netRxBps === null ? [] : [s.netRxBps]))),
    netTxBps: mean(measured.flatMap((s) => (s.netTxBps === null ? [] : [s.netTxBps]))),
    sessions: Math.max(...samples.map((s) => s.sessions)),
    containers: Math.max(...samples.map((s) => s.containers)),
    hostCpuPct: mean(measured.flatMap((s) => (s.hostCpuPct === null ? [] : [s.hostCpuPct]))),
    samples: measured.length,
  };
}

type PointRow = PointFigures & { at: Date };

/** Merges 1-minute points into one 15-minute point, weighted by their sample counts. */
export function aggregatePoints(points: PointRow[]): PointFigures | null {
  if (!points.length) return null;
  const w = (p: PointRow) => p.samples;
  return {
    cpuPct: weighted(points.map((p) => [p.cpuPct, w(p)]))!,
    memUsedBytes: weighted(points.map((p) => [p.memUsedBytes, w(p)]))!,
    memTotalBytes: points[points.length - 1]!.memTotalBytes,
    load1: weighted(points.map((p) => [p.load1, w(p)]))!,
    diskUsedPct: [...points].reverse().find((p) => p.diskUsedPct !== null)?.diskUsedPct ?? null,
    netRxBps: weighted(points.map((p) => [p.netRxBps, w(p)])),
    netTxBps: weighted(points.map((p) => [p.netTxBps, w(p)])),
    sessions: Math.max(...points.map((p) => p.sessions)),
    containers: Math.max(...points.map((p) => p.containers)),
    hostCpuPct: weighted(points.map((p) => [p.hostCpuPct, w(p)])),
    samples: points.reduce((a, p) => a + p.samples, 0),
  };
}

async function upsertPoint(db: Db, boxId: string, resolution: number, at: Date, figures: PointFigures): Promise<void> {
  await db.metricPoint.upsert({
    where: { boxId_resolution_at: { boxId, resolution, at } },
    create: { boxId, resolution, at, ...figures },
    update: figures,
  });
}

/**
 * Writes the 1-minute points of every complete minute in `entries` after `after` (ms) and up to `upTo`; returns the
 * end of the last minute written (the next call's `after`). Minutes without measured samples get no row: a gap.
 */
export async function rollupMinutes(db: Db, boxId: string, entries: RingEntry[], after: number, upTo: number): Promise<number> {
  const buckets = new Map<number, Sample[]>();
  const lastFull = Math.floor(upTo / 60_000) * 60_000;
  for (const entry of entries) {
    if (entry.gap || entry.at < after || entry.at >= lastFull) continue;
    const bucket = Math.floor(entry.at / 60_000) * 60_000;
    let list = buckets.get(bucket);
    if (!list) buckets.set(bucket, (list = []));
    list.push(entry);
  }
  for (const [bucket, samples] of [...buckets].sort((a, b) => a[0] - b[0])) {
    const figures = aggregateSamples(samples);
    if (figures) await upsertPoint(db, boxId, MINUTE, new Date(bucket), figures);
  }
  return Math.max(after, lastFull);
}

/** Writes the 15-minute points of the complete quarters among the last `lookbackQuarters`, from the 1-minute rows. */
export async function rollupQuarters(db: Db, upTo: number, lookbackQuarters = 2): Promise<number> {
  const end = Math.floor(upTo / 900_000) * 900_000;
  const start = end - lookbackQuarters * 900_000;
  const rows = await db.metricPoint.findMany({
    where: { resolution: MINUTE, at: { gte: new Date(start), lt: new Date(end) } },
    orderBy: { at: 'asc' },
  });
  const groups = new Map<string, PointRow[]>();
  for (const row of rows) {
    const quarter = Math.floor(row.at.getTime() / 900_000) * 900_000;
    const key = `${row.boxId}\u0000${quarter}`;
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(row);
  }
  for (const [key, points] of groups) {
    const [boxId, quarter] = key.split('\u0000') as [string, string];
    const figures = aggregatePoints(points);
    if (figures) await upsertPoint(db, boxId, QUARTER, new Date(Number(quarter)), figures);
  }
  return groups.size;
}

/** Deletes points past their retention; returns how many. */
export async function prunePoints(db: Db, now: number): Promise<number> {
  const minutes = await db.metricPoint.deleteMany({ where: { resolution: MINUTE, at: { lt: new Date(now - RETENTION_MS[MINUTE]) } } });
  const quarters = await db.metricPoint.deleteMany({ where: { resolution: QUARTER, at: { lt: new Date(now - RETENTION_MS[QUARTER]) } } });
  return minutes.count + quarters.count;
}

/** A chart point: null values are gaps (drawn as breaks, never as zero). */
export interface SeriesPoint {
  at: number;
  cpuPct: number | null;
  memUsedBytes: number | null;
  memTotalBytes: number | null;
  load1: number | null;
  hostCpuPct: number | null;
}

const gapPoint = (at: number): SeriesPoint => ({ at, cpuPct: null, memUsedBytes: null, memTotalBytes: null, load1: null, hostCpuPct: null });

/** Stored points of one resolution, with a null point wherever a bucket is missing. */
export async function storedSeries(db: Db, boxId: string, resolution: number, from: number, to: number): Promise<SeriesPoint[]> {
  const rows = await db.metricPoint.findMany({
    where: { boxId, resolution, at: { gte: new Date(from), lte: new Date(to) } },
    orderBy: { at: 'asc' },
  });
  const out: SeriesPoint[] = [];
  let previous: number | null = null;
  for (const row of rows) {
    const at = row.at.getTime();
    if (previous !== null && at - previous > resolution * 1000 * 1.5) out.push(gapPoint(previous + resolution * 1000));
    out.push({ at, cpuPct: row.cpuPct, memUsedBytes: row.memUsedBytes, memTotalBytes: row.memTotalBytes, load1: row.load1, hostCpuPct: row.hostCpuPct });
    previous = at;
  }
  return out;
}

/**
 * CPU of the stored points of several boxes in [from, to), in one query (the fleet page's sparklines): boxId -> its
 * points, oldest first. Boxes without points are absent; a missing minute is simply not there (a gap, not a zero).
 */
export async function storedCpuOfBoxes(db: Db, boxIds: string[], resolution: number, from: number, to: number): Promise<Map<string, { at: number; cpuPct: number }[]>> {
  const out = new Map<string, { at: number; cpuPct: number }[]>();
  if (!boxIds.length || to <= from) return out;
  const rows = await db.metricPoint.findMany({
    where: { boxId: { in: boxIds }, resolution, at: { gte: new Date(from), lt: new Date(to) } },
    select: { boxId: true, at: true, cpuPct: true },
    orderBy: { at: 'asc' },
  });
  for (const row of rows) {
    let list = out.get(row.boxId);
    if (!list) out.set(row.boxId, (list = []));
    list.push({ at: row.at.getTime(), cpuPct: row.cpuPct });
  }
  return out;
}

/** Ring entries as chart points (a gap entry becomes a null point). */
export function ringSeries(entries: RingEntry[], from: number): SeriesPoint[] {
  return entries
    .filter((entry) => entry.at >= from)
    .map((entry) =>
      entry.gap
        ? gapPoint(entry.at)
        : { at: entry.at, cpuPct: entry.cpuPct, memUsedBytes: entry.memUsedBytes, memTotalBytes: entry.memTotalBytes, load1: entry.load1, hostCpuPct: entry.hostCpuPct },
    );
}

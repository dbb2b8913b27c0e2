import type { BoxPorts, ListeningPort } from '../../lib/ports';
import { boxIdInput, epochMs } from '../../lib/validation';
import type { SessionUser } from '../boxes/access';
import { reachableBoxes } from '../boxes/access';
import { getBoxRow } from '../boxes/boxes';
import type { Db } from '../db/client';
import { MINUTE, QUARTER, ringSeries, storedCpuOfBoxes, storedSeries, type SeriesPoint } from './history';
import type { IdleState } from './idle';
import type { Sample } from './parse';
import type { RingEntry } from './sampler';
import type { MetricsService } from './service';
import type { MetricsSettings } from './settings';
import { policyFor } from './suspend';

/** What the fleet page shows per box. */
export type BoxActivity =
  | { kind: 'busy'; reasons: string[] }
  | { kind: 'quiet'; sinceMs: number }
  | { kind: 'idle'; sinceMs: number }
  | { kind: 'suspended'; atMs: number }
  | { kind: 'down'; reason: string }
  | { kind: 'unknown' };

export interface FleetMetricsRow {
  boxId: string;
  activity: BoxActivity;
  /** Last hour of CPU, one value per minute (null = gap / not measured). */
  spark: (number | null)[];
  cpuPct: number | null;
  hostCpuPct: number | null;
  suspendWarnedAt: number | null;
  isVm: boolean;
  /** The box's listening TCP ports and what listens; null: not known (never reached, or its sampler is down). */
  ports: ListeningPort[] | null;
}

export interface FleetSummary {
  boxes: number;
  busy: number;
  idle: number;
  suspended: number;
  down: number;
  /** Watts idle-but-running VMs still draw on their hosts: host CPU share x busyWatts per fully used core. */
  idleVmWatts: number;
  /** What idle-but-running non-VM boxes (VPS) cost per day at vpsCostPerHour. */
  idleVpsCostPerDay: number;
  how: string;
}

export function activityFor(metrics: Pick<FleetMetricsSource, 'idleState'>, box: { id: string; autoSuspendedAt: Date | null; idleSince: Date | null }): BoxActivity {
  const state = metrics.idleState(box.id);
  if (box.autoSuspendedAt && state.state !== 'busy' && state.state !== 'quiet' && state.state !== 'idle') {
    return { kind: 'suspended', atMs: box.autoSuspendedAt.getTime() };
  }
  switch (state.state) {
    case 'busy':
      return { kind: 'busy', reasons: state.reasons };
    case 'quiet':
      return { kind: 'quiet', sinceMs: state.since };
    case 'idle':
      return { kind: 'idle', sinceMs: state.since };
    case 'down':
      return { kind: 'down', reason: state.reason };
    default:
      // Not sampled by this process (yet): fall back to what was persisted.
      return box.idleSince ? { kind: 'idle', sinceMs: box.idleSince.getTime() } : { kind: 'unknown' };
  }
}

/** What the views read from the sampler: its in-memory ring (empty after a restart until samples arrive). */
export interface RingReader {
  recent(boxId: string, since?: number): RingEntry[];
}

/** What the fleet view reads from the metrics service (the MetricsService; tests can pass a plain object). */
export interface FleetMetricsSource {
  clock: { now(): number };
  settings: Pick<MetricsSettings, 'busyWatts' | 'vpsCostPerHour'>;
  idleState(boxId: string): IdleState;
  sampler: RingReader & { latest(boxId: string): Sample | null };
  ports: { get(boxId: string): BoxPorts };
}

const SPARK_MINUTES = 60;
const round1 = (value: number) => Math.round(value * 10) / 10;

/**
 * Per-minute CPU means of the last hour (60 slots, the last one is the current minute; null = gap / not measured)
 * for each box. The ring is used from its first entry on; the minutes before that (after a restart, or when the ring
 * was cut short) come from the stored 1-minute points, read in one query for all boxes, and none at all when every
 * ring covers the hour. A minute the ring only partly covers takes the stored point when there is one.
 */
export async function sparklines(db: Db, sampler: RingReader, boxIds: string[], now: number): Promise<Map<string, (number | null)[]>> {
  const start = Math.floor(now / 60_000) * 60_000 - (SPARK_MINUTES - 1) * 60_000;
  const end = start + SPARK_MINUTES * 60_000;
  const fromRing = new Map<string, { coveredFrom: number; values: (number | null)[] }>();
  for (const boxId of boxIds) {
    const ring = sampler.recent(boxId);
    const sums = new Array<number>(SPARK_MINUTES).fill(0);
    const counts = new Array<number>(SPARK_MINUTES).fill(0);
    for (const entry of ring) {
      if (entry.gap || entry.cpuPct === null) continue;
      const index = Math.floor((entry.at - start) / 60_000);
      if (index < 0 || index >= SPARK_MINUTES) continue;
      sums[index] += entry.cpuPct;
      counts[index] += 1;
    }
    fromRing.set(boxId, {
      coveredFrom: ring.length ? ring[0]!.at : Number.POSITIVE_INFINITY,
      values: sums.map((sum, i) => (counts[i] ? round1(sum / counts[i]!) : null)),
    });
  }
  const uncovered = boxIds.filter((id) => fromRing.get(id)!.coveredFrom > start);
  const storedTo = Math.min(end, Math.max(start, ...uncovered.map((id) => fromRing.get(id)!.coveredFrom)));
  const stored = await storedCpuOfBoxes(db, uncovered, MINUTE, start, storedTo);
  const out = new Map<string, (number | null)[]>();
  for (const boxId of boxIds) {
    const { coveredFrom, values } = fromRing.get(boxId)!;
    for (const point of stored.get(boxId) ?? []) {
      const index = Math.floor((point.at - start) / 60_000);
      if (index >= 0 && index < SPARK_MINUTES && point.at < coveredFrom) values[index] = round1(point.cpuPct);
    }
    out.set(boxId, values);
  }
  return out;
}

export async function fleetMetrics(db: Db, metrics: FleetMetricsSource, user: SessionUser): Promise<{ now: number; rows: FleetMetricsRow[]; summary: FleetSummary }> {
  const boxes = await db.box.findMany({
    where: await reachableBoxes(db, user),
    select: { id: true, vmHostId: true, idleSince: true, suspendWarnedAt: true, autoSuspendedAt: true },
  });
  const now = metrics.clock.now();
  const sparks = await sparklines(db, metrics.sampler, boxes.map((box) => box.id), now);
  const { busyWatts, vpsCostPerHour } = metrics.settings;
  const summary: FleetSummary = {
    boxes: boxes.length,
    busy: 0,
    idle: 0,
    suspended: 0,
    down: 0,
    idleVmWatts: 0,
    idleVpsCostPerDay: 0,
    how: `Estimates: an idle VM still running draws (its host CPU % / 100) x ${busyWatts} W on its host (${busyWatts} W per fully used core, a laptop figure; set in the settings); an idle box that is not a VM on a known host is counted as a VPS costing ${vpsCostPerHour} per hour while it runs. Suspending or powering them off saves that.`,
  };
  const rows = boxes.map((box): FleetMetricsRow => {
    const activity = activityFor(metrics, box);
    const latest = metrics.sampler.latest(box.id);
    if (activity.kind === 'busy' || activity.kind === 'quiet') summary.busy++;
    else if (activity.kind === 'idle') {
      summary.idle++;
      if (box.vmHostId) summary.idleVmWatts += ((latest?.hostCpuPct ?? 0) / 100) * busyWatts;
      else summary.idleVpsCostPerDay += vpsCostPerHour * 24;
    } else if (activity.kind === 'suspended') summary.suspended++;
    else if (activity.kind === 'down') summary.down++;
    return {
      boxId: box.id,
      activity,
      spark: sparks.get(box.id)!,
      cpuPct: latest?.cpuPct ?? null,
      hostCpuPct: latest?.hostCpuPct ?? null,
      suspendWarnedAt: box.suspendWarnedAt?.getTime() ?? null,
      isVm: box.vmHostId !== null,
      ports: metrics.ports.get(box.id).ports,
    };
  });
  summary.idleVmWatts = Math.round(summary.idleVmWatts * 10) / 10;
  summary.idleVpsCostPerDay = Math.round(summary.idleVpsCostPerDay * 100) / 100;
  return { now, rows, summary };
}

export const seriesInput = boxIdInput
  .extend({ from: epochMs, to: epochMs })
  .refine((r) => r.to > r.from, { message: 'The range must end after it starts.' });

/**
 * A box's series for [from, to]: the in-memory samples when they cover the range (up to 2 hours), 1-minute points
 * up to 2 days, 15-minute points beyond. Null values are gaps.
 */
export async function boxSeries(db: Db, metrics: { sampler: RingReader }, user: SessionUser, input: { boxId: string; from: number; to: number }) {
  const box = await getBoxRow(db, user, input.boxId);
  const span = input.to - input.from;
  const ring = metrics.sampler.recent(box.id);
  if (span <= 2 * 3600_000 && ring.length && ring[0]!.at <= input.from + 60_000) {
    return { resolution: 0, points: ringSeries(ring, input.from).filter((p) => p.at <= input.to) };
  }
  const resolution = span <= 2 * 24 * 3600_000 ? MINUTE : QUARTER;
  const points: SeriesPoint[] = await storedSeries(db, box.id, resolution, input.from, input.to);
  // The stored points end at the last rolled-up minute; the ring carries on from there.
  const stored = points.length;
  const lastStored = stored ? points[stored - 1]!.at + resolution * 1000 : input.from;
  if (resolution === MINUTE) {
    const tail = ringSeries(ring, lastStored).filter((p) => p.at <= input.to);
    // A ring that starts after the stored points end (the dashboard restarted): the time between is not known, so a
    // break, not a line drawn across it.
    if (stored && tail.length && ring[0]!.at > lastStored && !ring[0]!.gap) {
      tail.unshift({ at: lastStored, cpuPct: null, memUsedBytes: null, memTotalBytes: null, load1: null, hostCpuPct: null });
    }
    points.push(...tail);
  }
  // Nothing rolled up yet (a new box): the points are all raw samples.
  return { resolution: stored ? resolution : 0, points };
}

export async function boxMetricsStatus(db: Db, metrics: MetricsService, user: SessionUser, boxId: string) {
  const box = await getBoxRow(db, user, boxId);
  const policies = await db.suspendPolicy.findMany();
  const policy = policyFor({ id: box.id, tags: JSON.parse(box.tags) as string[] }, policies);
  const header = metrics.sampler.streamView(box.id);
  return {
    activity: activityFor(metrics, box),
    latest: metrics.sampler.latest(box.id),
    stream: header,
    terminals: metrics.terminalsOn(box.id),
    policy: policy && { idleMinutes: policy.idleMinutes, action: policy.action, enabled: policy.enabled, source: policy.boxId ? 'box' : `tag ${policy.tag}` },
    suspendWarnedAt: box.suspendWarnedAt?.getTime() ?? null,
    autoSuspendedAt: box.autoSuspendedAt?.getTime() ?? null,
    lastSuspendFailure: metrics.suspender.lastFailure(box.id),
    isVm: box.vmHostId !== null,
    intervals: { slowS: metrics.settings.slowIntervalS, fastS: metrics.settings.fastIntervalS },
  };
}

/** The box page is open: fast sampling for 30 s (the page pings every 10 s). Needs access, like any view. */
export async function watchBox(db: Db, metrics: MetricsService, user: SessionUser, boxId: string): Promise<void> {
  const box = await getBoxRow(db, user, boxId);
  metrics.sampler.watch(box.id, 30_000);
}

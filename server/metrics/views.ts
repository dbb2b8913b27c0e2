import type { SessionUser } from '../boxes/access';
import { reachableBoxes } from '../boxes/access';
import type { Db } from '../db/client';
import { AppError } from '../errors';
import { MINUTE, QUARTER, ringSeries, storedSeries, type SeriesPoint } from './history';
import type { MetricsService } from './service';
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

async function reachable(db: Db, user: SessionUser, boxId: string) {
  const box = await db.box.findFirst({ where: { id: boxId, ...reachableBoxes(user) } });
  if (!box) throw new AppError('NOT_FOUND', 'No such box (or it is not yours).');
  return box;
}

export function activityFor(metrics: MetricsService, box: { id: string; autoSuspendedAt: Date | null; idleSince: Date | null }): BoxActivity {
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

/** Per-minute CPU means of the last hour from the ring (null where no sample). */
function sparkline(metrics: MetricsService, boxId: string, now: number): (number | null)[] {
  const start = Math.floor(now / 60_000) * 60_000 - 59 * 60_000;
  const sums = new Array<number>(60).fill(0);
  const counts = new Array<number>(60).fill(0);
  for (const entry of metrics.sampler.recent(boxId, start)) {
    if (entry.gap || entry.cpuPct === null) continue;
    const index = Math.floor((entry.at - start) / 60_000);
    if (index < 0 || index >= 60) continue;
    sums[index] += entry.cpuPct;
    counts[index] += 1;
  }
  return sums.map((sum, i) => (counts[i] ? Math.round((sum / counts[i]!) * 10) / 10 : null));
}

export async function fleetMetrics(db: Db, metrics: MetricsService, user: SessionUser): Promise<{ now: number; rows: FleetMetricsRow[]; summary: FleetSummary }> {
  const boxes = await db.box.findMany({
    where: reachableBoxes(user),
    select: { id: true, vmHostId: true, idleSince: true, suspendWarnedAt: true, autoSuspendedAt: true },
  });
  const now = metrics.clock.now();
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
      spark: sparkline(metrics, box.id, now),
      cpuPct: latest?.cpuPct ?? null,
      hostCpuPct: latest?.hostCpuPct ?? null,
      suspendWarnedAt: box.suspendWarnedAt?.getTime() ?? null,
      isVm: box.vmHostId !== null,
    };
  });
  summary.idleVmWatts = Math.round(summary.idleVmWatts * 10) / 10;
  summary.idleVpsCostPerDay = Math.round(summary.idleVpsCostPerDay * 100) / 100;
  return { now, rows, summary };
}

/**
 * A box's series for [from, to]: the in-memory samples when they cover the range (up to 2 hours), 1-minute points
 * up to 2 days, 15-minute points beyond. Null values are gaps.
 */
export async function boxSeries(db: Db, metrics: MetricsService, user: SessionUser, input: { boxId: string; from: number; to: number }) {
  await reachable(db, user, input.boxId);
  const span = input.to - input.from;
  const ring = metrics.sampler.recent(input.boxId);
  if (span <= 2 * 3600_000 && ring.length && ring[0]!.at <= input.from + 60_000) {
    return { resolution: 0, points: ringSeries(ring, input.from).filter((p) => p.at <= input.to) };
  }
  const resolution = span <= 2 * 24 * 3600_000 ? MINUTE : QUARTER;
  const points: SeriesPoint[] = await storedSeries(db, input.boxId, resolution, input.from, input.to);
  // The stored points end at the last rolled-up minute; the ring carries on from there.
  const stored = points.length;
  const lastStored = stored ? points[stored - 1]!.at + resolution * 1000 : input.from;
  if (resolution === MINUTE) points.push(...ringSeries(ring, lastStored).filter((p) => p.at <= input.to));
  // Nothing rolled up yet (a new box): the points are all raw samples.
  return { resolution: stored ? resolution : 0, points };
}

export async function boxMetricsStatus(db: Db, metrics: MetricsService, user: SessionUser, boxId: string) {
  const box = await reachable(db, user, boxId);
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
  await reachable(db, user, boxId);
  metrics.sampler.watch(boxId, 30_000);
}

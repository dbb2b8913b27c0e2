'use client';
import { useQuery } from '@tanstack/react-query';
import { memo } from 'react';
// Type-only: the browser never loads server code.
import type { BoxActivity, fleetMetrics, FleetMetricsRow } from '../../server/metrics/views';
import { fleetMetricsQuery } from '../fleet-queries';
import { useTRPC } from '../trpc';
import { MetricsSettingsPanel } from './metrics-settings';
import { Sparkline } from './sparkline';

export function minutesText(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return `${hours} h ${minutes % 60} min`;
}

/** "busy" / "idle for 23 min" / "suspended" / "unreachable", with the why in a tooltip. */
export function ActivityBadge({ activity, now }: { activity: BoxActivity; now: number }) {
  switch (activity.kind) {
    case 'busy':
      return (
        <span className="rounded bg-emerald-50 px-1.5 py-0.5 text-xs font-medium text-emerald-800" title={activity.reasons.join(', ')} data-testid="activity">
          busy
        </span>
      );
    case 'quiet':
      return (
        <span className="rounded bg-emerald-50 px-1.5 py-0.5 text-xs font-medium text-emerald-800" title={`quiet for ${minutesText(now - activity.sinceMs)}, not yet for the idle window`} data-testid="activity">
          busy
        </span>
      );
    case 'idle':
      return (
        <span className="rounded bg-amber-50 px-1.5 py-0.5 text-xs font-medium text-amber-800" data-testid="activity">
          idle for {minutesText(now - activity.sinceMs)}
        </span>
      );
    case 'suspended':
      return (
        <span className="rounded bg-slate-200 px-1.5 py-0.5 text-xs font-medium text-slate-700" title={`suspended by policy at ${new Date(activity.atMs).toLocaleString()}`} data-testid="activity">
          suspended
        </span>
      );
    case 'down':
      return (
        <span className="rounded bg-red-50 px-1.5 py-0.5 text-xs font-medium text-red-700" title={activity.reason} data-testid="activity">
          no samples
        </span>
      );
    default:
      return (
        <span className="text-xs text-slate-400" data-testid="activity">
          not sampled yet
        </span>
      );
  }
}

type FleetMetrics = Awaited<ReturnType<typeof fleetMetrics>>;

/** The fleet's metrics. One query shared by every user of it (same key): TanStack Query fetches it once per interval. */
export function useFleetMetrics() {
  return useQuery(fleetMetricsQuery(useTRPC()));
}

/** Each answer's rows by box, built once per answer however many rows look one up. */
const rowsByBox = new WeakMap<FleetMetricsRow[], Map<string, FleetMetricsRow>>();

/**
 * A box's metrics row and the clock it shows durations against. The clock is 0 for a row that shows none (only
 * "idle for 23 min" and "warned 4 min ago" do), so a poll that changes the clock alone leaves such rows as they are;
 * unchanged rows keep their object across polls (structural sharing).
 */
export function fleetMetricsOf(data: FleetMetrics | undefined, boxId: string): { row: FleetMetricsRow | undefined; now: number } {
  if (!data) return { row: undefined, now: 0 };
  let byBox = rowsByBox.get(data.rows);
  if (!byBox) rowsByBox.set(data.rows, (byBox = new Map(data.rows.map((r) => [r.boxId, r]))));
  const row = byBox.get(boxId);
  const showsDuration = row !== undefined && (row.activity.kind === 'idle' || row.activity.kind === 'quiet' || row.suspendWarnedAt !== null);
  return { row, now: showsDuration ? data.now : 0 };
}

/** The fleet table's activity cell: sparkline of the last hour of CPU and the activity badge. */
export function FleetActivityCell({ row, now, boxName }: { row: FleetMetricsRow | undefined; now: number; boxName: string }) {
  if (!row) return <span className="text-xs text-slate-400">—</span>;
  return (
    <div className="space-y-1" data-testid="box-activity">
      <Sparkline values={row.spark} label={`CPU of ${boxName}, last hour`} />
      <div className="flex items-center gap-2">
        <ActivityBadge activity={row.activity} now={now} />
        {row.cpuPct !== null && <span className="text-xs text-slate-500">{row.cpuPct.toFixed(0)}% cpu</span>}
        {row.hostCpuPct !== null && <span className="text-xs text-slate-500">host {row.hostCpuPct.toFixed(0)}%</span>}
      </div>
      {row.suspendWarnedAt !== null && row.activity.kind === 'idle' && (
        <div className="text-xs text-amber-700" data-testid="suspend-warning">
          will be suspended soon (warned {minutesText(now - row.suspendWarnedAt)} ago)
        </div>
      )}
    </div>
  );
}

/** Team-level summary above the fleet table (and, for admins, the idle/suspend settings). */
export const FleetMetricsSummary = memo(function FleetMetricsSummary({ isAdmin }: { isAdmin: boolean }) {
  const fleet = useFleetMetrics();
  const s = fleet.data?.summary;
  if (!s) return null;
  return (
    <div className="mb-4 rounded-lg border border-slate-200 bg-white p-3 text-sm text-slate-700" data-testid="fleet-summary">
      <div className="flex flex-wrap items-center gap-x-5 gap-y-1">
        <span>
          <strong>{s.busy}</strong> busy
        </span>
        <span>
          <strong>{s.idle}</strong> idle
        </span>
        <span>
          <strong>{s.suspended}</strong> suspended
        </span>
        {s.down > 0 && (
          <span>
            <strong>{s.down}</strong> without samples
          </span>
        )}
        {(s.idleVmWatts > 0 || s.idleVpsCostPerDay > 0) && (
          <span title={s.how}>
            idle boxes still draw ≈ {s.idleVmWatts} W on laptops{s.idleVpsCostPerDay > 0 ? ` and cost ≈ ${s.idleVpsCostPerDay}/day as VPSes` : ''} (estimate)
          </span>
        )}
        <span className="text-xs text-slate-400" title={s.how}>
          how estimated?
        </span>
      </div>
      {isAdmin && <MetricsSettingsPanel />}
    </div>
  );
});

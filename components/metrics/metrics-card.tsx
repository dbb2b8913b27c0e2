'use client';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useState } from 'react';
import type uPlot from 'uplot';
import { formatBytes } from '../../lib/format';
import { useTRPC } from '../trpc';
import { Card, ErrorNote } from '../ui';
import { ActivityBadge, minutesText } from './activity';
import { UplotChart } from './uplot-chart';

const RANGES = [
  { label: '15 min', ms: 15 * 60_000 },
  { label: '1 h', ms: 3600_000 },
  { label: '6 h', ms: 6 * 3600_000 },
  { label: '24 h', ms: 24 * 3600_000 },
  { label: '7 days', ms: 7 * 24 * 3600_000 },
  { label: '30 days', ms: 30 * 24 * 3600_000 },
] as const;

/**
 * CPU / memory / load of one box, zoomable (drag to zoom, double click to reset), with its idle status and policy.
 * While it is open it pings `metrics.watch` every 10 s, so the box is sampled at the fast interval (page views are
 * never counted as activity on the box).
 */
export function MetricsCard({ boxId }: { boxId: string }) {
  const trpc = useTRPC();
  const [range, setRange] = useState<number>(RANGES[0].ms);
  const watch = useMutation(trpc.metrics.watch.mutationOptions());
  const { mutate } = watch;
  useEffect(() => {
    mutate({ boxId });
    const timer = setInterval(() => mutate({ boxId }), 10_000);
    return () => clearInterval(timer);
  }, [boxId, mutate]);

  const status = useQuery({ ...trpc.metrics.status.queryOptions({ boxId }), refetchInterval: 2_000 });
  const fast = range <= 3600_000;
  const [to, setTo] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setTo(Date.now()), fast ? 2_000 : 60_000);
    return () => clearInterval(timer);
  }, [fast]);
  const series = useQuery({
    ...trpc.metrics.series.queryOptions({ boxId, from: to - range, to }),
    placeholderData: (previous) => previous,
  });

  const points = series.data?.points ?? [];
  const hasHost = points.some((p) => p.hostCpuPct !== null);
  const data = useMemo<uPlot.AlignedData>(() => {
    const xs = points.map((p) => p.at / 1000);
    const mem = points.map((p) => (p.memUsedBytes !== null && p.memTotalBytes ? (p.memUsedBytes / p.memTotalBytes) * 100 : null));
    const rows: (number | null)[][] = [points.map((p) => p.cpuPct), mem, points.map((p) => p.load1)];
    if (hasHost) rows.push(points.map((p) => p.hostCpuPct));
    return [xs, ...rows] as uPlot.AlignedData;
  }, [points, hasHost]);

  const options = useMemo(
    () =>
      ({
        height: 220,
        scales: { x: { time: true }, pct: { range: [0, 100] }, load: { auto: true } },
        cursor: { drag: { x: true, y: false } },
        axes: [
          {},
          { scale: 'pct', values: (_u: uPlot, ticks: number[]) => ticks.map((t) => `${t}%`) },
          { scale: 'load', side: 1, grid: { show: false } },
        ],
        series: [
          {},
          { label: 'CPU %', scale: 'pct', stroke: '#4f46e5', width: 1.5, spanGaps: false },
          { label: 'Memory %', scale: 'pct', stroke: '#059669', width: 1.5, spanGaps: false },
          { label: 'Load (1 min)', scale: 'load', stroke: '#d97706', width: 1, spanGaps: false },
          ...(hasHost ? [{ label: 'Host CPU % (one core)', scale: 'pct', stroke: '#dc2626', width: 1, dash: [4, 3], spanGaps: false }] : []),
        ],
      }) satisfies Omit<uPlot.Options, 'width' | 'height'> & { height: number },
    [hasHost],
  );

  const s = status.data;
  const now = Date.now();
  return (
    <Card
      title="Activity"
      actions={
        <div className="flex gap-1" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button
              key={r.label}
              type="button"
              onClick={() => {
                setRange(r.ms);
                setTo(Date.now());
              }}
              className={`rounded px-2 py-0.5 text-xs ${range === r.ms ? 'bg-indigo-600 text-white' : 'bg-slate-100 text-slate-700 hover:bg-slate-200'}`}
            >
              {r.label}
            </button>
          ))}
        </div>
      }
    >
      <div data-testid="metrics-card" className="space-y-3">
        {s && (
          <div className="flex flex-wrap items-center gap-x-4 gap-y-1 text-sm text-slate-700">
            <ActivityBadge activity={s.activity} now={now} />
            {s.latest && (
              <span>
                cpu {s.latest.cpuPct?.toFixed(0) ?? '—'}% · memory {formatBytes(s.latest.memUsedBytes)} of {formatBytes(s.latest.memTotalBytes)} · load {s.latest.load1 ?? '—'}
                {s.latest.hostCpuPct !== null && ` · host cpu ${s.latest.hostCpuPct.toFixed(0)}%`}
                {` · ${s.latest.sessions} SSH login${s.latest.sessions === 1 ? '' : 's'} · ${s.latest.containers} container${s.latest.containers === 1 ? '' : 's'}`}
              </span>
            )}
            {/* Only a stream that has an interval says it: never "sampled every 0 s" or "every ? s". */}
            {s.stream && (s.stream.intervalS > 0 || s.stream.lastError) && (
              <span className="text-xs text-slate-500">
                {s.stream.intervalS ? `sampled every ${s.stream.intervalS} s` : 'not sampling'}
                {s.stream.header && ` by the ${s.stream.header.implementation === 'c' ? 'compiled' : 'bash'} sampler`}
                {s.stream.lastError ? ` · ${s.stream.lastError}` : ''}
              </span>
            )}
            {s.stream?.compiledNote && (
              <span data-testid="sampler-note" className="text-xs text-amber-700" title="The bash sampler costs the box more CPU per sample">
                bash sampler: {s.stream.compiledNote}
              </span>
            )}
          </div>
        )}
        {s?.policy && (
          <p className="text-xs text-slate-600">
            Policy ({s.policy.source}): {s.policy.enabled && s.policy.action !== 'none' ? `${s.policy.action} after ${s.policy.idleMinutes} idle minutes` : 'no action'}.
            {s.suspendWarnedAt && <span className="ml-1 font-medium text-amber-700">Warned {minutesText(now - s.suspendWarnedAt)} ago: it will be suspended unless it gets busy.</span>}
            {s.lastSuspendFailure && <span className="ml-1 text-red-700">Last auto-suspend failed: {s.lastSuspendFailure.message}</span>}
          </p>
        )}
        <ErrorNote error={series.error ?? status.error} />
        {series.data && points.length === 0 ? (
          // An empty uPlot draws an axis of years: say why there is nothing instead.
          <p className="grid h-[220px] place-items-center rounded-md bg-slate-50 text-sm text-slate-500" data-testid="no-samples">
            {s && !s.latest ? 'No samples yet: the box has not been reached.' : 'No samples in this time range: the box was not reached then.'}
          </p>
        ) : (
          <UplotChart options={options} data={data} label="CPU, memory and load of the box" className="w-full" />
        )}
        <p className="text-xs text-slate-500">
          Drag across the chart to zoom, double click to reset. Gaps are times without samples (box unreachable), not zeros.
          {series.data?.resolution ? ` Points are ${series.data.resolution === 60 ? '1-minute' : '15-minute'} averages.` : ''}
        </p>
      </div>
    </Card>
  );
}

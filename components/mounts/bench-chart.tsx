'use client';

/** Measured workloads on a box: one group per workload/phase, one bar per transport+mode, the local disk as the limit. Plain SVG. */

export interface BenchRun {
  transport: string;
  mode: string;
  workload: string;
  phase: string;
  durationMs: number;
}

const COLORS: Record<string, string> = { consistent: '#64748b', cached: '#4f46e5', delegated: '#059669', local: '#f59e0b' };

export function BenchChart({ runs }: { runs: BenchRun[] }) {
  if (!runs.length) return <p className="text-sm text-slate-500">No measurements yet: press Measure to run the workloads on the box.</p>;
  const groups = [...new Set(runs.map((r) => `${r.workload} ${r.phase}`))].sort();
  const series = [...new Set(runs.map((r) => (r.transport === 'local' ? 'local disk' : `${r.transport} ${r.mode}`)))].sort((a, b) => (a === 'local disk' ? 1 : b === 'local disk' ? -1 : a.localeCompare(b)));
  const latest = (group: string, s: string) => {
    const [workload, phase] = group.split(' ');
    const found = runs.find((r) => r.workload === workload && r.phase === phase && (s === 'local disk' ? r.transport === 'local' : `${r.transport} ${r.mode}` === s));
    return found?.durationMs ?? null;
  };
  const barH = 14;
  const labelW = 150;
  const width = 560;
  const rows = groups.flatMap((group) => [{ group, s: null as string | null }, ...series.map((s) => ({ group, s }))]);
  const height = rows.length * (barH + 4) + 10;
  return (
    <figure>
      <svg role="img" aria-label="Measured mount workloads, milliseconds, shorter is faster" width="100%" viewBox={`0 0 ${width} ${height}`}>
        {rows.map((row, i) => {
          const y = i * (barH + 4) + 4;
          if (row.s === null) {
            return (
              <text key={`${row.group}-h`} x={0} y={y + barH - 2} fontSize={11} fontWeight={600} fill="#0f172a">
                {row.group}
              </text>
            );
          }
          const value = latest(row.group, row.s);
          const max = Math.max(...series.map((s) => latest(row.group, s) ?? 0), 1);
          const w = value === null ? 0 : Math.max(2, ((width - labelW - 70) * value) / max);
          const mode = row.s === 'local disk' ? 'local' : row.s.split(' ')[1];
          return (
            <g key={`${row.group}-${row.s}`}>
              <text x={8} y={y + barH - 3} fontSize={10} fill="#475569">
                {row.s}
              </text>
              <rect x={labelW} y={y} width={w} height={barH} fill={COLORS[mode] ?? '#94a3b8'} rx={2} />
              <text x={labelW + w + 4} y={y + barH - 3} fontSize={10} fill="#334155">
                {value === null ? '—' : `${Math.round(value).toLocaleString()} ms`}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="text-xs text-slate-500">Milliseconds, latest run of each; shorter is faster. The amber bar is the box&apos;s own disk (the limit).</figcaption>
    </figure>
  );
}

'use client';
import { useMemo } from 'react';
import type uPlot from 'uplot';
import { UplotChart } from './uplot-chart';

/** The last hour of CPU, one point per minute, 0-100 %; missing minutes are breaks in the line. */
export function Sparkline({ values, endMs, label }: { values: (number | null)[]; endMs: number; label: string }) {
  const options = useMemo(
    () =>
      ({
        height: 28,
        legend: { show: false },
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        axes: [{ show: false }, { show: false }],
        scales: { x: { time: true }, y: { range: [0, 100] } },
        series: [{}, { stroke: '#4f46e5', width: 1.5, fill: 'rgba(79,70,229,0.12)', spanGaps: false }],
        padding: [2, 0, 2, 0],
      }) satisfies Omit<uPlot.Options, 'width' | 'height'> & { height: number },
    [],
  );
  const data = useMemo<uPlot.AlignedData>(() => {
    const start = Math.floor(endMs / 60_000) * 60_000 - (values.length - 1) * 60_000;
    return [values.map((_, i) => (start + i * 60_000) / 1000), values];
  }, [values, endMs]);
  return <UplotChart options={options} data={data} label={label} className="w-32" />;
}

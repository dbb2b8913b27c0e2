import { memo } from 'react';
import { HEIGHT, sparklinePaths, WIDTH } from './sparkline-paths';

/**
 * The last hour of CPU, one point per minute, 0-100 %; missing minutes are breaks in the line. Two SVG paths, not a
 * canvas or uPlot: a fleet page shows 50 of them and a re-sort shows another 50, and a path's `d` costs no drawing
 * context, backing store or effect (a canvas's context took ~10 ms of each sort).
 */
export const Sparkline = memo(function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const { line, area } = sparklinePaths(values);
  return (
    <svg width={WIDTH} height={HEIGHT} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={label} className="block">
      <path d={area} fill="rgba(79,70,229,0.12)" />
      <path d={line} fill="none" stroke="#4f46e5" strokeWidth={1.5} strokeLinejoin="round" />
    </svg>
  );
});

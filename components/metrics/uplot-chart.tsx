'use client';
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/**
 * A small React wrapper around uPlot: the chart is created once per `options` identity and fed new data with
 * setData (no re-creation on every poll), and follows its container's width. Null values are gaps (spanGaps off).
 */
export function UplotChart({
  options,
  data,
  className,
  label,
}: {
  /** Everything but width/height; keep the object stable (useMemo) or the chart is rebuilt. */
  options: Omit<uPlot.Options, 'width' | 'height'> & { height: number };
  data: uPlot.AlignedData;
  className?: string;
  label: string;
}) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const latest = useRef(data);
  latest.current = data;
  /** A drag-select zoomed in: new data keeps that x range until a double click (uPlot's reset) clears it. */
  const zoomed = useRef(false);

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const hooks = { ...options.hooks, setSelect: [...(options.hooks?.setSelect ?? []), (u: uPlot) => void (zoomed.current = u.select.width > 0)] };
    const plot = new uPlot({ ...options, hooks, width: Math.max(element.clientWidth, 50) }, latest.current, element);
    const reset = () => void (zoomed.current = false);
    element.addEventListener('dblclick', reset);
    chart.current = plot;
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 50), height: options.height }));
    observer.observe(element);
    return () => {
      element.removeEventListener('dblclick', reset);
      observer.disconnect();
      plot.destroy();
      chart.current = null;
    };
  }, [options]);

  useEffect(() => {
    // Keeps a zoomed x range while new points arrive (no scale reset once the user zoomed).
    chart.current?.setData(data, !zoomed.current);
  }, [data]);

  return <div ref={container} className={className} role="img" aria-label={label} data-testid="uplot" />;
}

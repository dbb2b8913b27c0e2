'use client';
import { useEffect, useRef } from 'react';

const WIDTH = 128;
const HEIGHT = 28;
/** Drawn at twice its CSS size: sharp on high-density screens, and the same markup on the server and in the browser. */
const SCALE = 2;

/**
 * The last hour of CPU, one point per minute, 0-100 %; missing minutes are breaks in the line. Drawn straight on a
 * canvas, not with uPlot: a fleet page shows 50 of them, and a re-sort mounts a new set (uPlot instances cost
 * milliseconds each; this costs microseconds).
 */
export function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext('2d');
    if (!context) return;
    context.setTransform(SCALE, 0, 0, SCALE, 0, 0);
    context.clearRect(0, 0, WIDTH, HEIGHT);
    const x = (i: number) => (values.length > 1 ? (i / (values.length - 1)) * WIDTH : WIDTH);
    const y = (v: number) => 2 + (1 - Math.min(100, Math.max(0, v)) / 100) * (HEIGHT - 4);
    // One run of consecutive samples at a time: a gap is a break, never a line drawn through it.
    let run: [number, number][] = [];
    const flush = () => {
      if (run.length > 0) {
        context.beginPath();
        run.forEach(([px, py], i) => (i === 0 ? context.moveTo(px, py) : context.lineTo(px, py)));
        context.strokeStyle = '#4f46e5';
        context.lineWidth = 1.5;
        context.stroke();
        context.lineTo(run.at(-1)![0], HEIGHT);
        context.lineTo(run[0][0], HEIGHT);
        context.fillStyle = 'rgba(79,70,229,0.12)';
        context.fill();
      }
      run = [];
    };
    values.forEach((v, i) => (v === null ? flush() : run.push([x(i), y(v)])));
    flush();
  }, [values]);
  return (
    <canvas
      ref={canvas}
      width={WIDTH * SCALE}
      height={HEIGHT * SCALE}
      style={{ width: WIDTH, height: HEIGHT }}
      role="img"
      aria-label={label}
    />
  );
}

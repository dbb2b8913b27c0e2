export const WIDTH = 128;
export const HEIGHT = 28;

/**
 * The sparkline's SVG paths: one subpath per run of consecutive samples, so a missing minute is a break in the line
 * and in the area under it, never a line drawn through the gap. Coordinates to a tenth of a pixel.
 */
export function sparklinePaths(values: (number | null)[]): { line: string; area: string } {
  const x = (i: number) => (values.length > 1 ? (i / (values.length - 1)) * WIDTH : WIDTH);
  const y = (v: number) => 2 + (1 - Math.min(100, Math.max(0, v)) / 100) * (HEIGHT - 4);
  const point = (px: number, py: number) => `${px.toFixed(1)} ${py.toFixed(1)}`;
  let line = '';
  let area = '';
  let run: string[] = [];
  let runStart = 0;
  let runEnd = 0;
  const flush = () => {
    if (run.length > 0) {
      const path = `M${run.join('L')}`;
      line += path;
      area += `${path}L${point(runEnd, HEIGHT)}L${point(runStart, HEIGHT)}Z`;
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null) return flush();
    if (run.length === 0) runStart = x(i);
    runEnd = x(i);
    run.push(point(x(i), y(v)));
  });
  flush();
  return { line, area };
}

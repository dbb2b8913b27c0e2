import { describe, expect, it } from 'vitest';
import { HEIGHT, sparklinePaths, WIDTH } from './sparkline-paths';

describe('sparklinePaths', () => {
  it('draws 0 % at the bottom and 100 % at the top, clamped, across the whole width', () => {
    const { line, area } = sparklinePaths([0, 100, 150]);
    expect(line).toBe(`M0.0 26.0L${(WIDTH / 2).toFixed(1)} 2.0L${WIDTH.toFixed(1)} 2.0`);
    // The area under the line goes down to the bottom edge and closes.
    expect(area).toBe(`${line}L${WIDTH.toFixed(1)} ${HEIGHT.toFixed(1)}L0.0 ${HEIGHT.toFixed(1)}Z`);
  });

  it('breaks the line and the area at a missing minute, never drawing through it', () => {
    const { line, area } = sparklinePaths([50, 50, null, 20, 20]);
    const subpaths = line.split('M').filter(Boolean);
    expect(subpaths).toHaveLength(2);
    expect(subpaths[0]).toBe('0.0 14.0L32.0 14.0');
    expect(subpaths[1]).toBe('96.0 21.2L128.0 21.2');
    expect(area.match(/Z/g)).toHaveLength(2);
  });

  it('draws nothing without samples', () => {
    expect(sparklinePaths([null, null])).toEqual({ line: '', area: '' });
    expect(sparklinePaths([])).toEqual({ line: '', area: '' });
  });
});

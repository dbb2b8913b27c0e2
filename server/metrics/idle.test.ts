// Idle bookkeeping with open tunnels: a tunnel is activity, named by what it carries and whose it is.
import { describe, expect, it } from 'vitest';
import { activityOf, IdleTracker } from './idle';
import type { Sample } from './parse';

const settings = { idleCpuPct: 10, containerBusyPct: 10 };
const quiet = (at: number) => ({ at, cpuPct: 1, sessions: 0, containerCpuPct: [] }) as unknown as Sample;

describe('activity with tunnels', () => {
  it('an open tunnel makes a quiet sample active, and the reasons say whose it is', () => {
    expect(activityOf(quiet(0), 0, settings)).toEqual({ active: false, reasons: [] });
    expect(activityOf(quiet(0), 0, settings, ['ssh by ana@example.com'])).toEqual({ active: true, reasons: ['tunnel open: ssh by ana@example.com'] });
  });

  it('a tunnel opened between samples makes the box busy at once', () => {
    const tracker = new IdleTracker();
    tracker.onSample('b1', quiet(0), activityOf(quiet(0), 0, settings));
    expect(tracker.state('b1', 10_000, 5_000)).toEqual({ state: 'idle', since: 0 });
    tracker.onTunnelsOpen('b1', ['ssh by ana@example.com']);
    tracker.onTunnelsOpen('b1', ['ssh by ana@example.com']);
    expect(tracker.state('b1', 10_000, 5_000)).toEqual({ state: 'busy', reasons: ['tunnel open: ssh by ana@example.com'] });
  });
});

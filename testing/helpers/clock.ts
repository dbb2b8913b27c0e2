// Fake time for code that takes a Clock (hypervisors/driver.ts) or a now() function: tests move time on instead
// of sleeping.
import type { Clock } from '../../server/hypervisors/driver';

/** A clock whose sleep() returns at once and moves now() forward by the time slept. */
export function fakeClock(start = 0): Clock & { slept: number[] } {
  let now = start;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

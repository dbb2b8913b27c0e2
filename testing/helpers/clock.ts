// Fake time for code that takes a Clock (hypervisors/driver.ts) or a now() function: tests move time on instead
// of sleeping.
import { existsSync } from 'node:fs';
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

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

/**
 * Environment that runs a child process with its wall clock moved by `offset` (libfaketime's syntax: "+30s", "-30s"),
 * as a process on a machine whose clock is wrong: for code that must go by the database's clock instead.
 */
export function clockOffsetEnv(offset: string): Record<string, string> {
  if (!existsSync(LIBFAKETIME)) throw new Error(`${LIBFAKETIME} is missing: run scripts/test-deps.sh (it installs libfaketime)`);
  // DONT_FAKE_MONOTONIC: only the wall clock is wrong on such a machine; elapsed time still runs true.
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset, DONT_FAKE_MONOTONIC: '1' };
}

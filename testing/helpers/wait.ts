// The one way tests, the lab and the benchmarks wait for a state: poll it (until) or wake on the event that may
// change it (Wakeups). Never a fixed sleep: a sleep is too short on a busy machine and too long on an idle one.

export interface UntilOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** The longest pause between two checks (default 100 ms); the first pauses are shorter (20 ms, doubling). */
  everyMs?: number;
  /** Read only on a timeout and added to the error: what was seen instead (logs, a state). */
  describe?: () => string | Promise<string>;
}

/**
 * Polls `check` until it returns a truthy value and returns that value. A check that throws ends the wait with its
 * error (e.g. "the container died"). `options` may be just the timeout in milliseconds.
 */
export async function until<T>(check: () => T | Promise<T>, what: string, options: number | UntilOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 30_000, everyMs = 100, describe } = typeof options === 'number' ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let pauseMs = Math.min(20, everyMs);
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? `\n${await describe()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    pauseMs = Math.min(pauseMs * 2, everyMs);
  }
}

/**
 * For state that changes only when an event arrives (a WebSocket message, an output chunk): waits re-check on each
 * wake() instead of on a timer.
 */
export class Wakeups {
  private readonly waiters = new Set<() => void>();

  /** Call after every event that may change what waiters check. */
  wake(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Resolves once `check` holds (now or after a wake()); rejects after `timeoutMs` with `describe()`'s text. */
  until(check: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(describe()));
      }, timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      this.waiters.add(waiter);
    });
  }
}

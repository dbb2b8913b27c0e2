/**
 * Waits for `promise` but gives up as soon as `signal` aborts, rejecting with `reasonOf()` (the signal's reason by
 * default). The promise itself is not cancelled — it may be shared, or its work may go on — so its own later
 * rejection is observed here rather than left unhandled.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, reasonOf: () => unknown = () => signal.reason): Promise<T> {
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(reasonOf() as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reasonOf() as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Rejects when `promise` has not settled within `ms`, judged after the I/O
 * already waiting when the timer fires has been handled (setImmediate):
 * timers run before I/O callbacks, so on a busy event loop an answer that
 * has arrived must not be turned into a timeout.
 */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        setImmediate(() =>
          reject(new TimeoutError(`${what}: timed out after ${ms} ms`)),
        ),
      ms,
    );
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** What {@link withTimeout} rejects with (code ETIMEDOUT, as a node fault). */
export class TimeoutError extends Error {
  readonly code = "ETIMEDOUT";

  constructor(message: string) {
    super(message);
    this.name = "TimeoutError";
  }
}

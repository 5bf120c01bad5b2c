/**
 * Decides when a breaker trips: after `threshold` consecutive failures
 * (default 3, `REPLICA_FAILURE_THRESHOLD`). Any success resets the count.
 *
 * Kept apart from {@link CircuitBreaker} so "when to trip" can change (for
 * example to a failure rate over a window) without touching the state machine.
 * {@link HealthTracker} uses it too, for the same "N in a row" rule.
 */
export class ConsecutiveFailures {
  private failures = 0;

  /**
   * @param threshold consecutive failures that trip; a positive integer, default 3.
   * @param optionName the name used in the RangeError, so callers can report
   *   their own option name (e.g. `failureThreshold`).
   * @throws RangeError when `threshold` is not a positive integer.
   */
  constructor(
    readonly threshold: number = 3,
    optionName = "threshold",
  ) {
    assertPositiveInteger(optionName, threshold);
  }

  /**
   * Counts one more failure.
   * @returns true when the count has now reached the threshold (exactly met counts),
   *   and on every further failure until a success or reset.
   */
  recordFailure(): boolean {
    this.failures += 1;
    return this.failures >= this.threshold;
  }

  /** A success breaks the run: the count goes back to 0. */
  recordSuccess(): void {
    this.failures = 0;
  }

  /** Forgets every failure counted so far. */
  reset(): void {
    this.failures = 0;
  }

  /** Consecutive failures counted since the last success or reset. */
  get count(): number {
    return this.failures;
  }
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
}

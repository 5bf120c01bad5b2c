/**
 * A set of event listeners for one emitter. A listener that throws cannot
 * break the emitter: the error is swallowed, and the first one per emitter
 * is reported with console.error.
 */
export class Listeners<E> {
  private readonly set = new Set<(event: E) => void>();
  private errorReported = false;

  /** @param what names the emitter in the one error report, e.g. `circuit breaker replica_1`. */
  constructor(private readonly what: string) {}

  /**
   * Subscribes `listener`; the same function added twice gets two
   * independent subscriptions.
   * @returns a function that unsubscribes.
   */
  add(listener: (event: E) => void): () => void {
    const entry = (event: E): void => listener(event);
    this.set.add(entry);
    return () => {
      this.set.delete(entry);
    };
  }

  /** Calls every listener with `event`. */
  emit(event: E): void {
    // Copy: a listener may unsubscribe (or subscribe) while we iterate.
    for (const listener of [...this.set]) {
      try {
        listener(event);
      } catch (err) {
        if (!this.errorReported) {
          this.errorReported = true;
          console.error(`${this.what}: listener threw`, err);
        }
      }
    }
  }
}

import type { Logger } from "./logger";

/**
 * Background tasks on intervals that never overlap themselves (a run still
 * going when the next is due skips that turn), never keep the process
 * alive, and log a failure instead of throwing it.
 */
export class PeriodicTasks {
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  /** @param describe turns a task's error into a log-safe string (no credentials). */
  constructor(
    private readonly logger: Logger,
    private readonly describe: (err: unknown) => string,
  ) {}

  /** Runs `task` every `ms` until {@link stop}. */
  every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.stopped) return;
      running = true;
      task()
        .catch((err: unknown) =>
          this.logger.error("background task failed", {
            error: this.describe(err),
          }),
        )
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Clears every interval; runs in progress finish on their own. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
  }
}

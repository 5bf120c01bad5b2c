import { performance } from "node:perf_hooks";

/** How late this process's event loop has been running, recently. */
export interface LoopDelay {
  /**
   * The longest delay seen over the last one to two seconds, including a
   * gap still in progress (ms): how late a timer, or an answer already in
   * a socket buffer, may have been noticed.
   */
  recentMaxMs(): number;
}

/** The figures of the last whole second, for status pages. */
export interface LoopDelayFigures {
  /** 99th percentile and maximum of the delay over the last whole second (ms); 0 before the first. */
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Sampling interval (ms): a timer due every this long records how late it ran. */
const RESOLUTION_MS = 10;
/** Length of one window (ms). */
const WINDOW_MS = 1_000;

/**
 * Event-loop delay of this process: a timer due every 10 ms records how
 * late each of its runs is, in one-second windows. (Node's
 * `monitorEventLoopDelay` measures the same, but resetting its histogram at
 * the end of a window also drops the gap in progress, so a pause that began
 * just then was seen by neither window; prom-client exports that one as
 * `nodejs_eventloop_lag_*_seconds`, with its sampling interval included.)
 * The stall watch uses this so that this process's own lateness (a busy
 * loop, a GC pause, a saturated CPU) is never taken for a replica's
 * silence; the status page shows it. Costs one timer callback per 10 ms.
 */
export class EventLoopDelayMonitor implements LoopDelay {
  private timer: NodeJS.Timeout | null = null;
  private lastTickMs = 0;
  private windowStartMs = 0;
  private samples: number[] = [];
  private windowMaxMs = 0;
  private last: LoopDelayFigures = { p99Ms: 0, maxMs: 0 };

  start(): void {
    if (this.timer !== null) return;
    this.lastTickMs = this.windowStartMs = performance.now();
    this.samples = [];
    this.windowMaxMs = 0;
    this.last = { p99Ms: 0, maxMs: 0 };
    this.timer = setInterval(() => this.tick(), RESOLUTION_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  recentMaxMs(): number {
    const pending =
      this.timer === null
        ? 0
        : performance.now() - this.lastTickMs - RESOLUTION_MS;
    return Math.max(this.last.maxMs, this.windowMaxMs, pending, 0);
  }

  /** The last whole second's figures. */
  figures(): LoopDelayFigures {
    return this.last;
  }

  private tick(): void {
    const now = performance.now();
    const delay = Math.max(0, now - this.lastTickMs - RESOLUTION_MS);
    this.lastTickMs = now;
    this.samples.push(delay);
    if (delay > this.windowMaxMs) this.windowMaxMs = delay;
    if (now - this.windowStartMs < WINDOW_MS) return;
    const sorted = this.samples.sort((a, b) => a - b);
    this.last = {
      p99Ms: sorted[Math.ceil(0.99 * sorted.length) - 1] ?? 0,
      maxMs: this.windowMaxMs,
    };
    this.samples = [];
    this.windowMaxMs = 0;
    this.windowStartMs = now;
  }
}

/** No delay ever: for tests driven by a manual clock. */
export const noLoopDelay: LoopDelay = { recentMaxMs: () => 0 };

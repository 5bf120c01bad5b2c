import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

/** How late this process's event loop has been running, recently. */
export interface LoopDelay {
  /**
   * The longest delay seen over the last one to two seconds (ms): how late
   * a timer, or an answer already in a socket buffer, may have been noticed.
   */
  recentMaxMs(): number;
}

/** The figures of the last whole second, for status pages. */
export interface LoopDelayFigures {
  /** 99th percentile and maximum of the delay over the last whole second (ms); 0 before the first. */
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Sampling interval of the histogram (ms); its own interval is not delay. */
const RESOLUTION_MS = 10;
/** Length of one window (ms). */
const WINDOW_MS = 1_000;

/**
 * Event-loop delay of this process, from Node's own histogram
 * (`perf_hooks.monitorEventLoopDelay`, a timer in libuv that records how
 * late each of its ticks ran), read in one-second windows. The stall watch
 * uses it so that this process's own lateness (a busy loop, a GC pause, a
 * saturated CPU) is never taken for a replica's silence; the status page
 * shows it. prom-client exports the same histogram as
 * `nodejs_eventloop_lag_*_seconds`.
 */
export class EventLoopDelayMonitor implements LoopDelay {
  private readonly histogram: IntervalHistogram;
  private timer: NodeJS.Timeout | null = null;
  private last: LoopDelayFigures = { p99Ms: 0, maxMs: 0 };

  constructor() {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  }

  start(): void {
    if (this.timer !== null) return;
    this.histogram.enable();
    this.timer = setInterval(() => this.rotate(), WINDOW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.histogram.disable();
  }

  recentMaxMs(): number {
    return Math.max(this.last.maxMs, delayMs(this.histogram.max));
  }

  /** The last whole second's figures. */
  figures(): LoopDelayFigures {
    return this.last;
  }

  private rotate(): void {
    const h = this.histogram;
    this.last = { p99Ms: delayMs(h.percentile(99)), maxMs: delayMs(h.max) };
    h.reset();
  }
}

/** A histogram value (ns between ticks) as delay past the tick's due time (ms). */
function delayMs(ns: number): number {
  return Math.max(0, ns / 1e6 - RESOLUTION_MS);
}

/** No delay ever: for tests driven by a manual clock. */
export const noLoopDelay: LoopDelay = { recentMaxMs: () => 0 };

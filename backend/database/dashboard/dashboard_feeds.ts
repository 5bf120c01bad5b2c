import type { ReplicaRouter } from "../router/replica_router";
import { EventLog } from "./event_log";
import { History, readingsOf } from "./history";

/**
 * What the dashboard draws from: the history ring (sampled on a timer) and
 * the event log (fed by the logger {@link EventLog.tee} wraps, which must be
 * the router's logger).
 */
export class DashboardFeeds {
  readonly events = new EventLog();
  readonly history: History;
  private timer: NodeJS.Timeout | null = null;

  constructor(options: { historyIntervalMs?: number } = {}) {
    this.history = new History(options.historyIntervalMs ?? 5_000);
  }

  /** Samples `router` now and every history interval, until {@link stop}. */
  start(router: ReplicaRouter): void {
    if (this.timer !== null) return;
    const sample = () => this.history.record(Date.now(), readingsOf(router));
    sample();
    this.timer = setInterval(sample, this.history.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

import type { RouterStatusView } from "../router/index";
import { EventLog } from "./event_log";
import { History, readingsOf, type NodeReading } from "./history";

/**
 * What the dashboard draws from: the history ring (sampled on a timer) and
 * the event log (fed by the logger {@link EventLog.tee} wraps, which must be
 * the router's logger).
 */
export class DashboardFeeds {
  readonly events = new EventLog();
  readonly history: History;
  private timer: NodeJS.Timeout | null = null;
  private readonly lastState = new Map<string, string>();

  constructor(options: { historyIntervalMs?: number } = {}) {
    this.history = new History(options.historyIntervalMs ?? 5_000);
  }

  /** Samples `router` now and every history interval, until {@link stop}. */
  start(router: RouterStatusView): void {
    if (this.timer !== null) return;
    const sample = () => {
      const readings = readingsOf(router);
      this.noteLagChanges(readings);
      this.history.record(Date.now(), readings);
    };
    sample();
    this.timer = setInterval(sample, this.history.intervalMs);
    this.timer.unref();
  }

  /**
   * A replica entering or leaving `lagging` is an event too: the router logs
   * health and breaker changes, not lag crossing its bound, so the sampler
   * notices it (within one history interval).
   */
  private noteLagChanges(readings: readonly NodeReading[]): void {
    const previous = new Map(this.lastState);
    // Rebuilt from the current nodes: replicas removed long ago are forgotten.
    this.lastState.clear();
    for (const r of readings) {
      const before = previous.get(r.name);
      this.lastState.set(r.name, r.state);
      if (before === undefined || before === r.state) continue;
      if (before !== "lagging" && r.state !== "lagging") continue;
      this.events.add({
        kind: "health",
        level: r.state === "lagging" ? "warn" : "info",
        node: r.name,
        message: `${r.name}: ${before} → ${r.state} (lag ${r.lagSeconds === null ? "unknown" : `${r.lagSeconds.toFixed(1)} s`})`,
      });
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

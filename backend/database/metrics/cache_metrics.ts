import { Counter, Histogram, type Registry } from "prom-client";
import type { CacheObserver, CacheOutcome, SkipReason } from "../router/index";

/** Cache reads of one endpoint with one outcome since start. */
export interface CacheReadCount {
  endpoint: string;
  outcome: CacheOutcome;
  count: number;
}

/**
 * The query cache's figures: reads by endpoint and outcome (hit in memory
 * or in the shared tier, miss, bypass), fills not stored and why,
 * invalidations, and the time a cached read took. Plain counters on the
 * request path; Prometheus reads them at scrape time.
 */
export class CacheMetrics implements CacheObserver {
  private readonly reads = new Map<string, Map<CacheOutcome, number>>();
  private readonly skips = new Map<SkipReason, number>();
  private invalidations = { local: 0, shared: 0 };
  private readonly latency: Histogram<"outcome">;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    new Counter({
      name: "cache_requests_total",
      help: "Cacheable reads by endpoint and outcome (hit_memory, hit_shared, miss, bypass_strong, bypass_off, bypass_unavailable)",
      labelNames: ["endpoint", "outcome"] as const,
      registers,
      collect() {
        this.reset();
        for (const r of self.readCounts())
          this.inc(
            {
              endpoint: r.endpoint === "" ? "(none)" : r.endpoint,
              outcome: r.outcome,
            },
            r.count,
          );
      },
    });
    new Counter({
      name: "cache_fill_skipped_total",
      help: "Fills not stored in the cache, by reason (too_large, not_json, unknown_position, behind_fence, shared_unavailable)",
      labelNames: ["reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of self.skips) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: "cache_invalidations_total",
      help: "Writes that invalidated cache scopes, by where the generations live (local, shared)",
      labelNames: ["tier"] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ tier: "local" }, self.invalidations.local);
        this.inc({ tier: "shared" }, self.invalidations.shared);
      },
    });
    this.latency = new Histogram({
      name: "cache_read_duration_seconds",
      help: "Cacheable reads from start to value, by outcome (a miss includes the database read)",
      labelNames: ["outcome"] as const,
      buckets: [
        0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
      ],
      registers,
    });
  }

  /** @inheritdoc */
  onRead(endpoint: string, outcome: CacheOutcome, seconds: number): void {
    let byOutcome = this.reads.get(endpoint);
    if (byOutcome === undefined)
      this.reads.set(endpoint, (byOutcome = new Map()));
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
    this.latency.observe({ outcome }, seconds);
  }

  /** @inheritdoc */
  onSkip(reason: SkipReason): void {
    this.skips.set(reason, (this.skips.get(reason) ?? 0) + 1);
  }

  /** @inheritdoc */
  onInvalidate(_keys: number, shared: boolean): void {
    if (shared) this.invalidations.shared++;
    else this.invalidations.local++;
  }

  /** Writes that invalidated cache scopes since start. */
  invalidationCount(): number {
    return this.invalidations.local + this.invalidations.shared;
  }

  /** Reads by outcome, summed over endpoints, since start. */
  outcomeCounts(): { outcome: CacheOutcome; count: number }[] {
    const byOutcome = new Map<CacheOutcome, number>();
    for (const r of this.readCounts())
      byOutcome.set(r.outcome, (byOutcome.get(r.outcome) ?? 0) + r.count);
    return [...byOutcome].map(([outcome, count]) => ({ outcome, count }));
  }

  /** Reads by endpoint and outcome since start. */
  readCounts(): CacheReadCount[] {
    const out: CacheReadCount[] = [];
    for (const [endpoint, byOutcome] of this.reads)
      for (const [outcome, count] of byOutcome)
        out.push({ endpoint, outcome, count });
    return out;
  }
}

import type { RouterMetricsSnapshot } from "../metrics/snapshot";
import { jsonLogger, type Logger } from "../router/index";

/** A labelled counter that only goes up by the amount it is given (Encore's `CounterGroup`). */
export interface CounterSink<L> {
  /** Adds `n` (a positive integer) to the series of `labels`. */
  increment(labels: L, n: number): void;
}

/** A labelled gauge (Encore's `GaugeGroup`). */
export interface GaugeSink<L> {
  /** Sets the series of `labels` to `value`. */
  set(labels: L, value: number): void;
}

/** Labels of the read counters. */
export interface NodeReasonLabels {
  node: string;
  reason: string;
}

/** Labels of the read-failure counters. */
export interface NodeOutcomeLabels {
  node: string;
  outcome: string;
}

/** Labels of the per-replica gauges. */
export interface ReplicaLabels {
  replica: string;
}

/** Labels of the per-cluster gauges. */
export interface ClusterLabels {
  cluster: string;
}

/** Where the publisher writes; one member per published metric. */
export interface MetricsSink {
  /** Reads routed, by node and reason. */
  reads: CounterSink<NodeReasonLabels>;
  /** Read attempts that failed for the node's fault, by node and outcome. */
  readFailures: CounterSink<NodeOutcomeLabels>;
  /** Replay lag in seconds; not set while unknown. */
  replicaLagSeconds: GaugeSink<ReplicaLabels>;
  /** Replay lag in bytes of WAL; not set while unknown. */
  replicaLagBytes: GaugeSink<ReplicaLabels>;
  /** Circuit breaker: 0 closed, 1 half_open, 2 open. */
  replicaCircuitState: GaugeSink<ReplicaLabels>;
  /** Replicas whose last health verdict is healthy. */
  healthyReplicas: GaugeSink<ClusterLabels>;
  /** Cacheable reads by outcome (hit_memory, hit_shared, miss, bypass_...). */
  cacheReads: CounterSink<OutcomeLabels>;
  /** Writes that invalidated cache scopes. */
  cacheInvalidations: CounterSink<Record<string, never>>;
}

/** Labels of the cache read counter. */
export interface OutcomeLabels {
  outcome: string;
}

/** The figures the publisher reads; `RouterMetrics` is one. */
export interface SnapshotSource {
  /** Cumulative counters and current gauges. */
  snapshot(): RouterMetricsSnapshot;
}

/** Optional settings of a {@link MetricsPublisher}. */
export interface MetricsPublisherOptions {
  /** Where a failed periodic publish is reported (default: JSON on stderr). */
  logger?: Logger;
}

/**
 * Pushes a router's figures to a push-style metrics system (Encore's
 * `encore.dev/metrics`, through a {@link MetricsSink}), reading the same
 * cumulative state the Prometheus registry renders. Counters there can only
 * be incremented, so each `publish()` sends what was added since the last
 * one; gauges get their current value. Imports nothing of Encore, so it runs
 * and is tested under plain Node.
 *
 * Gauges keep their last value in the sink: a replica whose lag becomes
 * unknown, or that is removed, keeps its last published figures there (the
 * sink has no way to delete a series); its health and circuit tell why.
 */
export class MetricsPublisher {
  /** Counter totals already pushed, by metric and label key. */
  private readonly pushed = new Map<string, number>();
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly source: SnapshotSource,
    private readonly sink: MetricsSink,
    options: MetricsPublisherOptions = {},
  ) {
    this.logger = options.logger ?? jsonLogger;
  }

  /**
   * Pushes counter deltas since the previous publish and every gauge's
   * current value. A delta is recorded as pushed only once the sink took it,
   * so a sink that throws loses nothing: the next publish sends it again.
   *
   * @throws whatever the sink throws.
   */
  publish(): void {
    const s = this.source.snapshot();
    for (const r of s.reads)
      this.pushDelta("reads", `${r.node}\u0000${r.reason}`, r.count, (n) =>
        this.sink.reads.increment({ node: r.node, reason: r.reason }, n),
      );
    for (const f of s.readFailures)
      this.pushDelta(
        "readFailures",
        `${f.node}\u0000${f.outcome}`,
        f.count,
        (n) =>
          this.sink.readFailures.increment(
            { node: f.node, outcome: f.outcome },
            n,
          ),
      );
    for (const r of s.replicas) {
      const labels = { replica: r.name };
      if (r.lagSeconds !== null)
        this.sink.replicaLagSeconds.set(labels, r.lagSeconds);
      if (r.lagBytes !== null)
        this.sink.replicaLagBytes.set(labels, r.lagBytes);
      this.sink.replicaCircuitState.set(labels, r.circuitState);
    }
    for (const c of s.clusters)
      this.sink.healthyReplicas.set({ cluster: c.name }, c.healthyReplicas);
    for (const c of s.cacheReads)
      this.pushDelta("cacheReads", c.outcome, c.count, (n) =>
        this.sink.cacheReads.increment({ outcome: c.outcome }, n),
      );
    this.pushDelta("cacheInvalidations", "", s.cacheInvalidations, (n) =>
      this.sink.cacheInvalidations.increment({}, n),
    );
  }

  /**
   * Publishes every `intervalMs` (default 10 s) on an `unref()`'d timer, so
   * it never keeps the process alive. Idempotent: a second call while
   * started changes nothing. Errors of a periodic publish are logged.
   */
  start(intervalMs = 10_000): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      try {
        this.publish();
      } catch (err) {
        this.logger.warn("publishing metrics failed", {
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer. Idempotent; `start()` may be called again afterwards. */
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** True while the periodic timer runs. */
  get started(): boolean {
    return this.timer !== null;
  }

  private pushDelta(
    metric: string,
    labelKey: string,
    total: number,
    push: (n: number) => void,
  ): void {
    const key = `${metric}\u0000${labelKey}`;
    const before = this.pushed.get(key) ?? 0;
    // Totals only grow while the process lives; a smaller one means the
    // source was replaced, so its whole total is new.
    const delta = total >= before ? total - before : total;
    if (delta === 0) return;
    push(delta);
    this.pushed.set(key, total);
  }
}

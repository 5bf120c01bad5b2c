import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from "prom-client";
import { DurationHistogram } from "./duration_histogram";
import {
  clusterFigures,
  replicaFigures,
  type ReadFailureCount,
  type ReplicaFigures,
  type RouterMetricsSnapshot,
} from "./snapshot";
import { CacheMetrics } from "./cache_metrics";
import { RouteCounts } from "./route_counts";
import type {
  DbNode,
  ReadFailureOutcome,
  RouterStatusView,
  RouteReason,
  RouterObserver,
} from "../router/index";

/**
 * The router's key figures. The query path only adds to plain numbers held
 * in maps keyed by node object (no label strings, no hashing, no
 * prom-client call). Two readers share that one state: the Prometheus
 * registry (`render`, at scrape time) and `snapshot()` (what the Encore
 * metrics publisher pushes). Gauges are computed from the router's state
 * when read.
 */
export class RouterMetrics implements RouterObserver {
  /** The Prometheus registry `render` exposes. */
  readonly registry = new Registry();
  private router: RouterStatusView | null = null;
  private readonly routeCounts = new RouteCounts();
  private readonly failureCounts = new Map<
    DbNode,
    Record<ReadFailureOutcome, number>
  >();
  private readonly durations = new DurationHistogram(
    "db_query_duration_seconds",
  );

  /** @param options.defaultMetrics also export prom-client's process metrics (default true). */
  /** Replica reads by zone locality and spill reason ("locality\0why" -> count). */
  private readonly zoneReads = new Map<string, number>();
  /** Standalone HTTP requests by path kind and status class, from arrival to response sent. */
  private readonly httpRequests: Histogram<"kind" | "status">;
  /** The query cache's figures (pass as the router's `cacheObserver`). */
  readonly cache: CacheMetrics;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.httpRequests = new Histogram({
      name: "http_request_duration_seconds",
      help: "Standalone HTTP requests from arrival to response sent, by kind (api = domain endpoints, system = monitoring/admin/metrics) and status class (2xx, 4xx, 503, 5xx)",
      labelNames: ["kind", "status"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry });
    this.cache = new CacheMetrics(this.registry);
    const self = this;
    new Counter({
      name: "read_routing_total",
      help: "Reads routed, by target node, endpoint and reason (replica = normal replica read)",
      labelNames: ["target", "endpoint", "reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const {
          node,
          endpoint,
          reason,
          count,
        } of self.routeCounts.series())
          this.inc(
            {
              target: node.name,
              endpoint: endpoint === "" ? "(none)" : endpoint,
              reason,
            },
            count,
          );
      },
    });
    new Counter({
      name: "read_failures_total",
      help: "Read attempts that failed for the node's fault, by node and outcome (retried on another node, or failed with 503)",
      labelNames: ["node", "outcome"] as const,
      registers,
      collect() {
        this.reset();
        for (const f of self.readFailureCounts())
          this.inc({ node: f.node, outcome: f.outcome }, f.count);
      },
    });
    // prom-client's Histogram cannot be filled from precomputed buckets, so
    // this one series is exposed through a small collector of its own.
    const durations = this.durations;
    this.registry.registerMetric({
      name: durations.name,
      help: "Statement latency by node and kind (read/write)",
      type: "histogram",
      aggregator: "sum",
      get: async () => ({
        name: durations.name,
        help: "Statement latency by node and kind (read/write)",
        type: "histogram",
        aggregator: "sum",
        values: durations.samples(),
      }),
    } as unknown as Histogram);
    const replicaGauge = (
      name: string,
      help: string,
      value: (r: ReplicaFigures) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ["replica"] as const,
        registers,
        collect() {
          this.reset();
          for (const r of self.replicas()) {
            const v = value(r);
            if (v !== null) this.set({ replica: r.name }, v);
          }
        },
      });
    replicaGauge(
      "replica_lag_seconds",
      "Replay lag of each replica in seconds (absent when unknown)",
      (r) => r.lagSeconds,
    );
    replicaGauge(
      "replica_lag_bytes",
      "Replay lag of each replica in bytes of WAL (absent when unknown)",
      (r) => r.lagBytes,
    );
    replicaGauge(
      "replica_health",
      "1 when the replica's last health verdict is healthy, else 0",
      (r) => r.healthy,
    );
    replicaGauge(
      "replica_serving",
      "1 when the replica may serve eventual reads now (healthy, circuit not open, within the lag bound)",
      (r) => r.serving,
    );
    replicaGauge(
      "circuit_breaker_state",
      "Circuit breaker of each replica: 0 closed, 1 half-open, 2 open",
      (r) => r.circuitState,
    );
    new Counter({
      name: "read_zone_total",
      help: "Replica reads by zone locality (local = in SERVICE_ZONE, spill = elsewhere) and why they left the zone",
      labelNames: ["locality", "why"] as const,
      registers,
      collect() {
        this.reset();
        for (const [key, n] of self.zoneReads) {
          const [locality, why] = key.split("\u0000") as [string, string];
          this.inc({ locality, why: why === "" ? "(none)" : why }, n);
        }
      },
    });
    new Counter({
      name: "read_your_writes_behind_total",
      help: "Read-your-writes checks (sent with the read) that found the replica behind the token; the read then waited for replay or went elsewhere",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const c of self.router?.clusters ?? [])
          for (const r of c.replicas)
            this.inc({ replica: r.name }, r.guardMisses);
      },
    });
    new Counter({
      name: "replica_stalls_total",
      help: "Replicas found silent by the stall watch, by replica and verdict: suspected (no new reads until a probe answers), confirmed (the probe failed too; outstanding reads moved), withheld (silent, but its peers were as slow or enough replicas were out: not taken out)",
      labelNames: ["replica", "verdict"] as const,
      registers,
      collect() {
        this.reset();
        for (const c of self.router?.clusters ?? [])
          for (const r of c.replicas) {
            this.inc(
              { replica: r.name, verdict: "suspected" },
              r.stallsSuspected,
            );
            this.inc(
              { replica: r.name, verdict: "confirmed" },
              r.stallsConfirmed,
            );
            this.inc(
              { replica: r.name, verdict: "withheld" },
              r.stallsWithheld,
            );
          }
      },
    });
    new Counter({
      name: "db_requests_shed_total",
      help: "Request statements refused by admission control (503 + Retry-After), by node and reason (queue_full, queue_timeout)",
      labelNames: ["node", "reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const c of self.router?.clusters ?? []) {
          for (const n of c.nodes) {
            this.inc(
              { node: n.name, reason: "queue_full" },
              n.admission.refusedQueueFull,
            );
            this.inc(
              { node: n.name, reason: "queue_timeout" },
              n.admission.refusedTimeout,
            );
          }
        }
      },
    });
    new Gauge({
      name: "db_pool_connections",
      help: "Pool connections per node by state (total, idle, waiting clients, max; admitted = request statements holding a slot, queued = waiting for one)",
      labelNames: ["node", "state"] as const,
      registers,
      collect() {
        this.reset();
        for (const c of self.router?.clusters ?? []) {
          for (const n of c.nodes) {
            const p = n.poolStats();
            this.set({ node: n.name, state: "total" }, p.total);
            this.set({ node: n.name, state: "idle" }, p.idle);
            this.set({ node: n.name, state: "waiting" }, p.waiting);
            this.set({ node: n.name, state: "max" }, p.max);
            this.set({ node: n.name, state: "admitted" }, n.admission.active);
            this.set({ node: n.name, state: "queued" }, n.admission.queued);
          }
        }
      },
    });
  }

  /** Counts one replica read by zone locality (SERVICE_ZONE set). */
  onZoneRead(_node: DbNode, locality: "local" | "spill", why: string): void {
    const key = `${locality}\u0000${why}`;
    this.zoneReads.set(key, (this.zoneReads.get(key) ?? 0) + 1);
  }

  /** Counts one HTTP request of the standalone server. */
  onHttpRequest(kind: "api" | "system", status: number, seconds: number): void {
    const cls =
      status === 503
        ? "503"
        : status >= 500
          ? "5xx"
          : status >= 400
            ? "4xx"
            : "2xx";
    this.httpRequests.observe({ kind, status: cls }, seconds);
  }

  /** Reads gauges from `router` from now on. */
  attach(router: RouterStatusView): void {
    this.router = router;
  }

  /** @inheritdoc */
  onRoute(node: DbNode, endpoint: string, reason: RouteReason): void {
    this.routeCounts.add(node, endpoint, reason);
  }

  /** @inheritdoc */
  onQuery(node: DbNode, kind: "read" | "write", seconds: number): void {
    this.durations.observe(node, kind, seconds);
  }

  /** @inheritdoc */
  onReadFailed(
    node: DbNode,
    _endpoint: string,
    outcome: ReadFailureOutcome,
  ): void {
    const c = this.failureCounts.get(node);
    if (c === undefined)
      this.failureCounts.set(node, {
        retried: outcome === "retried" ? 1 : 0,
        failed: outcome === "failed" ? 1 : 0,
      });
    else c[outcome]++;
  }

  /**
   * The figures as plain data: reads by node and reason (summed over
   * endpoints), read failures by node and outcome, and per replica and per
   * cluster the gauges as of now (empty before `attach`). Counters are
   * cumulative since start and keyed by node name, so a replica removed and
   * added again under the same name keeps counting up.
   */
  snapshot(): RouterMetricsSnapshot {
    const clusters = this.router?.clusters ?? [];
    return {
      reads: this.routeCounts.byNodeAndReason(),
      readFailures: this.readFailureCounts(),
      replicas: replicaFigures(clusters),
      clusters: clusterFigures(clusters),
      cacheReads: this.cache.outcomeCounts(),
      cacheInvalidations: this.cache.invalidationCount(),
    };
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return {
      contentType: this.registry.contentType,
      body: await this.registry.metrics(),
    };
  }

  private replicas(): ReplicaFigures[] {
    return replicaFigures(this.router?.clusters ?? []);
  }

  private readFailureCounts(): ReadFailureCount[] {
    const byKey = new Map<string, ReadFailureCount>();
    for (const [node, counts] of this.failureCounts) {
      for (const outcome of ["retried", "failed"] as const) {
        if (counts[outcome] === 0) continue;
        const key = `${node.name}\u0000${outcome}`;
        const entry = byKey.get(key);
        if (entry === undefined)
          byKey.set(key, { node: node.name, outcome, count: counts[outcome] });
        else entry.count += counts[outcome];
      }
    }
    return [...byKey.values()];
  }
}

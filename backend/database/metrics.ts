import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from "prom-client";
import type { DbNode } from "./router/db_node";
import type { RouteReason } from "./router/read_planner";
import type { ReplicaRouter, RouterObserver } from "./router/replica_router";

const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10,
] as const;

/** One histogram series kept as plain numbers: per-bucket (not cumulative) counts, sum, count. */
interface DurationSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * Prometheus metrics of one router. The query path only adds to plain
 * numbers held in maps keyed by node object (no label strings, no hashing,
 * no prom-client call); everything is handed to prom-client when `/metrics`
 * is scraped. Gauges are computed at scrape time from the router's state.
 */
export class RouterMetrics implements RouterObserver {
  readonly registry = new Registry();
  private router: ReplicaRouter | null = null;
  private readonly routeCounts = new Map<
    DbNode,
    Map<string, Map<RouteReason, { n: number }>>
  >();
  private readonly durations = new Map<
    DbNode,
    { read: DurationSeries; write: DurationSeries }
  >();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry });
    const self = this;
    new Counter({
      name: "read_routing_total",
      help: "Reads routed, by target node, endpoint and reason (replica = normal replica read)",
      labelNames: ["target", "endpoint", "reason"] as const,
      registers,
      collect() {
        this.reset();
        for (const [node, byEndpoint] of self.routeCounts) {
          for (const [endpoint, byReason] of byEndpoint) {
            for (const [reason, c] of byReason) {
              this.inc(
                {
                  target: node.name,
                  endpoint: endpoint === "" ? "(none)" : endpoint,
                  reason,
                },
                c.n,
              );
            }
          }
        }
      },
    });
    // prom-client's Histogram cannot be filled from precomputed buckets, so
    // this one series is exposed through a small collector of its own.
    this.registry.registerMetric({
      name: "db_query_duration_seconds",
      help: "Statement latency by node and kind (read/write)",
      type: "histogram",
      aggregator: "sum",
      get: async () => ({
        name: "db_query_duration_seconds",
        help: "Statement latency by node and kind (read/write)",
        type: "histogram",
        aggregator: "sum",
        values: self.durationValues(),
      }),
    } as unknown as Histogram);
    const replicas = () =>
      self.router?.clusters.flatMap((c) => c.replicas) ?? [];
    new Gauge({
      name: "replica_lag_seconds",
      help: "Replay lag of each replica in seconds (absent when unknown)",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const n of replicas()) {
          const s = n.lag!.reading.lagSeconds;
          if (s !== null) this.set({ replica: n.name }, s);
        }
      },
    });
    new Gauge({
      name: "replica_lag_bytes",
      help: "Replay lag of each replica in bytes of WAL (absent when unknown)",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const n of replicas()) {
          const b = n.lag!.reading.lagBytes;
          if (b !== null) this.set({ replica: n.name }, b);
        }
      },
    });
    new Gauge({
      name: "replica_health",
      help: "1 when the replica's last health verdict is healthy, else 0",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const n of replicas())
          this.set({ replica: n.name }, n.health.verdict === "healthy" ? 1 : 0);
      },
    });
    new Gauge({
      name: "replica_serving",
      help: "1 when the replica may serve eventual reads now (healthy, circuit not open, within the lag bound)",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const c of self.router?.clusters ?? []) {
          for (const n of c.replicas)
            this.set({ replica: n.name }, c.serving.includes(n) ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "circuit_breaker_state",
      help: "Circuit breaker of each replica: 0 closed, 1 half-open, 2 open",
      labelNames: ["replica"] as const,
      registers,
      collect() {
        this.reset();
        for (const n of replicas()) {
          const s = n.breaker!.stateName;
          this.set(
            { replica: n.name },
            s === "closed" ? 0 : s === "half_open" ? 1 : 2,
          );
        }
      },
    });
    new Gauge({
      name: "db_pool_connections",
      help: "Pool connections per node by state (total, idle, waiting clients, max)",
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
          }
        }
      },
    });
  }

  /** Reads gauges from `router` from now on. */
  attach(router: ReplicaRouter): void {
    this.router = router;
  }

  onRoute(node: DbNode, endpoint: string, reason: RouteReason): void {
    let byEndpoint = this.routeCounts.get(node);
    if (byEndpoint === undefined)
      this.routeCounts.set(node, (byEndpoint = new Map()));
    let byReason = byEndpoint.get(endpoint);
    if (byReason === undefined)
      byEndpoint.set(endpoint, (byReason = new Map()));
    const c = byReason.get(reason);
    if (c === undefined) byReason.set(reason, { n: 1 });
    else c.n++;
  }

  onQuery(node: DbNode, kind: "read" | "write", seconds: number): void {
    let series = this.durations.get(node);
    if (series === undefined) {
      series = { read: newSeries(), write: newSeries() };
      this.durations.set(node, series);
    }
    const s = series[kind];
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** Histogram samples in prom-client's exposition form: cumulative buckets, +Inf, sum, count. */
  private durationValues() {
    const values: {
      labels: Record<string, string | number>;
      value: number;
      metricName: string;
    }[] = [];
    for (const [node, series] of this.durations) {
      for (const kind of ["read", "write"] as const) {
        const s = series[kind];
        if (s.count === 0) continue;
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.counts[i]!;
          values.push({
            labels: { node: node.name, kind, le },
            value: cumulative,
            metricName: "db_query_duration_seconds_bucket",
          });
        });
        const labels = { node: node.name, kind };
        values.push({
          labels: { ...labels, le: "+Inf" },
          value: s.count,
          metricName: "db_query_duration_seconds_bucket",
        });
        values.push({
          labels,
          value: s.sum,
          metricName: "db_query_duration_seconds_sum",
        });
        values.push({
          labels,
          value: s.count,
          metricName: "db_query_duration_seconds_count",
        });
      }
    }
    return values;
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return {
      contentType: this.registry.contentType,
      body: await this.registry.metrics(),
    };
  }
}

function newSeries(): DurationSeries {
  // One slot per bucket bound plus one for +Inf.
  return {
    counts: new Float64Array(DURATION_BUCKETS.length + 1),
    sum: 0,
    count: 0,
  };
}

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

/**
 * Prometheus metrics of one router. Gauges are computed when scraped, from
 * the router's own state; the query path only bumps a cached counter child
 * and observes one histogram child, with no label strings built per query.
 */
export class RouterMetrics implements RouterObserver {
  readonly registry = new Registry();
  private router: ReplicaRouter | null = null;
  private readonly routing: Counter<"target" | "endpoint" | "reason">;
  private readonly duration: Histogram<"node" | "kind">;
  private readonly routeChildren = new Map<
    DbNode,
    Map<string, Map<RouteReason, { inc(): void }>>
  >();
  private readonly durationChildren = new Map<
    DbNode,
    { read: { observe(v: number): void }; write: { observe(v: number): void } }
  >();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false)
      collectDefaultMetrics({ register: this.registry });
    this.routing = new Counter({
      name: "read_routing_total",
      help: "Reads routed, by target node, endpoint and reason (replica = normal replica read)",
      labelNames: ["target", "endpoint", "reason"] as const,
      registers,
    });
    this.duration = new Histogram({
      name: "db_query_duration_seconds",
      help: "Statement latency by node and kind (read/write)",
      labelNames: ["node", "kind"] as const,
      buckets: [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
        5, 10,
      ],
      registers,
    });
    const self = this;
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
    let byEndpoint = this.routeChildren.get(node);
    if (byEndpoint === undefined)
      this.routeChildren.set(node, (byEndpoint = new Map()));
    let byReason = byEndpoint.get(endpoint);
    if (byReason === undefined)
      byEndpoint.set(endpoint, (byReason = new Map()));
    let child = byReason.get(reason);
    if (child === undefined) {
      child = this.routing.labels(
        node.name,
        endpoint === "" ? "(none)" : endpoint,
        reason,
      );
      byReason.set(reason, child);
    }
    child.inc();
  }

  onQuery(node: DbNode, kind: "read" | "write", seconds: number): void {
    let children = this.durationChildren.get(node);
    if (children === undefined) {
      children = {
        read: this.duration.labels(node.name, "read"),
        write: this.duration.labels(node.name, "write"),
      };
      this.durationChildren.set(node, children);
    }
    children[kind].observe(seconds);
  }

  /** The Prometheus text exposition. */
  async render(): Promise<{ contentType: string; body: string }> {
    return {
      contentType: this.registry.contentType,
      body: await this.registry.metrics(),
    };
  }
}

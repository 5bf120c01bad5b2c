/**
 * The router's key figures as Encore native metrics (`encore.dev/metrics`),
 * for Encore Cloud and self-hosted Encore, where nothing scrapes `/metrics`.
 * An Encore edge file: importing it needs the Encore runtime. The figures
 * come from the same `RouterMetrics` the Prometheus endpoint renders.
 *
 * Parser rules kept here (encoredev/encore
 * `tsparser/src/parser/resources/infra/metrics.rs`): every metric is declared
 * at top level with a string-literal, snake_case name not starting with `e_`;
 * label types are interfaces of string fields, none named `service`; the
 * metrics are only used through `.with(...)`. They are not exported: a use
 * from a second service would make the runtime unable to attribute updates
 * made outside a request (`resolveServiceName` in `encore.dev/metrics`), and
 * those would be dropped.
 */
import { Counter, CounterGroup, GaugeGroup } from "encore.dev/metrics";
import { MetricsPublisher, type MetricsSink } from "./metrics_publisher";
import type { RouterMetrics } from "../metrics/router_metrics";

/** Labels of `db_reads_total`. */
interface ReadLabels {
  /** Node that served the read (`primary`, `replica_1`, `<cluster>.replica_1`). */
  node: string;
  /** Why it went there (`replica` for a normal replica read, else the fallback reason). */
  reason: string;
}

/** Labels of `db_read_failures_total`. */
interface ReadFailureLabels {
  /** Node whose attempt failed. */
  node: string;
  /** `retried` (moved to another node) or `failed` (the caller got 503). */
  outcome: string;
}

/** Labels of the per-replica gauges. */
interface ReplicaLabels {
  replica: string;
}

/** Labels of the per-cluster gauges. */
interface ClusterLabels {
  cluster: string;
}

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Reads routed, by node and reason (same counts as Prometheus `read_routing_total`, summed over endpoints). */
const dbReadsTotal = new CounterGroup<ReadLabels>("db_reads_total");

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Read attempts that failed for the node's fault, by node and outcome (Prometheus `read_failures_total`). */
const dbReadFailuresTotal = new CounterGroup<ReadFailureLabels>(
  "db_read_failures_total",
);

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Replay lag of each replica in seconds (last known value). */
const dbReplicaLagSeconds = new GaugeGroup<ReplicaLabels>(
  "db_replica_lag_seconds",
);

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Replay lag of each replica in bytes of WAL (last known value). */
const dbReplicaLagBytes = new GaugeGroup<ReplicaLabels>("db_replica_lag_bytes");

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Circuit breaker of each replica: 0 closed, 1 half_open, 2 open. */
const dbReplicaCircuitState = new GaugeGroup<ReplicaLabels>(
  "db_replica_circuit_state",
);

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Replicas of each cluster whose last health verdict is healthy. */
const dbHealthyReplicas = new GaugeGroup<ClusterLabels>("db_healthy_replicas");

/** Labels of `db_cache_requests_total`. */
interface CacheOutcomeLabels {
  /** `hit_memory`, `hit_shared`, `miss`, `bypass_strong`, `bypass_off` or `bypass_unavailable`. */
  outcome: string;
}

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Cacheable reads by outcome (Prometheus `cache_requests_total`, summed over endpoints). */
const dbCacheRequestsTotal = new CounterGroup<CacheOutcomeLabels>(
  "db_cache_requests_total",
);

// Top-level, literal snake_case name (tsparser/src/parser/resources/infra/metrics.rs).
/** Writes that invalidated cache scopes (Prometheus `cache_invalidations_total`, both tiers). */
const dbCacheInvalidationsTotal = new Counter("db_cache_invalidations_total");

/** The Encore metrics above, as the publisher's sink. */
const encoreSink: MetricsSink = {
  reads: { increment: (l, n) => dbReadsTotal.with(l).increment(n) },
  readFailures: {
    increment: (l, n) => dbReadFailuresTotal.with(l).increment(n),
  },
  replicaLagSeconds: { set: (l, v) => dbReplicaLagSeconds.with(l).set(v) },
  replicaLagBytes: { set: (l, v) => dbReplicaLagBytes.with(l).set(v) },
  replicaCircuitState: {
    set: (l, v) => dbReplicaCircuitState.with(l).set(v),
  },
  healthyReplicas: { set: (l, v) => dbHealthyReplicas.with(l).set(v) },
  cacheReads: {
    increment: (l, n) => dbCacheRequestsTotal.with(l).increment(n),
  },
  cacheInvalidations: {
    increment: (_l, n) => dbCacheInvalidationsTotal.increment(n),
  },
};

const publishers = new WeakMap<RouterMetrics, MetricsPublisher>();

/**
 * Publishes `metrics` to Encore's native metrics every `intervalMs`
 * (default 10 s) on an `unref()`'d timer. Idempotent per `RouterMetrics`:
 * a second call returns the running publisher, so counts are never pushed
 * twice. Stop it with the returned publisher's `stop()`.
 */
export function startEncoreMetrics(
  metrics: RouterMetrics,
  intervalMs = 10_000,
): MetricsPublisher {
  let publisher = publishers.get(metrics);
  if (publisher === undefined) {
    publisher = new MetricsPublisher(metrics, encoreSink);
    publishers.set(metrics, publisher);
  }
  publisher.start(intervalMs);
  return publisher;
}

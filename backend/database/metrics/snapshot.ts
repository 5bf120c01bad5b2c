import type {
  CircuitStateName,
  NodeCluster,
  ReadFailureOutcome,
  RouteReason,
} from "../router/index";

/** Reads routed to one node for one reason since start, summed over endpoints. */
export interface ReadCount {
  node: string;
  reason: RouteReason;
  count: number;
}

/** Read attempts on one node that failed for the node's fault, by outcome, since start. */
export interface ReadFailureCount {
  node: string;
  outcome: ReadFailureOutcome;
  count: number;
}

/** Circuit breaker state as a number: 0 closed, 1 half_open, 2 open. */
export type CircuitStateCode = 0 | 1 | 2;

/** Figures of one replica at the time of the snapshot. */
export interface ReplicaFigures {
  name: string;
  cluster: string;
  /** Replay lag in seconds; null when unknown (no good sample yet, or the last one failed). */
  lagSeconds: number | null;
  /** Replay lag in bytes of WAL; null when unknown. */
  lagBytes: number | null;
  /** 1 when the last health verdict is `healthy`, else 0. */
  healthy: 0 | 1;
  /** 1 when the replica may serve eventual reads now (healthy, circuit not open, within the lag bound). */
  serving: 0 | 1;
  circuitState: CircuitStateCode;
}

/** Figures of one cluster at the time of the snapshot. */
export interface ClusterFigures {
  name: string;
  /** Replicas whose last health verdict is `healthy` (as `/replicas/health` counts them). */
  healthyReplicas: number;
}

/**
 * A plain-data view of a router's key figures: cumulative counters (never
 * decrease while the process lives) and gauges as of the call. What the
 * Prometheus collectors and the Encore metrics publisher both read.
 */
export interface RouterMetricsSnapshot {
  reads: ReadCount[];
  readFailures: ReadFailureCount[];
  /** Empty before a router is attached. */
  replicas: ReplicaFigures[];
  /** Empty before a router is attached. */
  clusters: ClusterFigures[];
  /** Cacheable reads by outcome (hit_memory, miss, bypass_..., summed over endpoints) since start. */
  cacheReads: { outcome: string; count: number }[];
  /** Writes that invalidated cache scopes since start. */
  cacheInvalidations: number;
}

/** Maps a breaker state to the number the gauges carry. */
export function circuitStateCode(state: CircuitStateName): CircuitStateCode {
  return state === "closed" ? 0 : state === "half_open" ? 1 : 2;
}

/** The current figures of every replica of `clusters`, in cluster then replica order. */
export function replicaFigures(
  clusters: readonly NodeCluster[],
): ReplicaFigures[] {
  const out: ReplicaFigures[] = [];
  for (const c of clusters) {
    for (const n of c.replicas) {
      const reading = n.lag?.reading;
      out.push({
        name: n.name,
        cluster: c.name,
        lagSeconds: reading?.lagSeconds ?? null,
        lagBytes: reading?.lagBytes ?? null,
        healthy: n.health.verdict === "healthy" ? 1 : 0,
        serving: c.serving.includes(n) ? 1 : 0,
        circuitState: circuitStateCode(n.breaker?.stateName ?? "closed"),
      });
    }
  }
  return out;
}

/** The current figures of every cluster. */
export function clusterFigures(
  clusters: readonly NodeCluster[],
): ClusterFigures[] {
  return clusters.map((c) => ({
    name: c.name,
    healthyReplicas: c.replicas.filter((n) => n.health.verdict === "healthy")
      .length,
  }));
}

import type { DbNode } from "../nodes/db_node";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ReplicaNode, ReplicaPermit } from "../nodes/replica_node";

/**
 * Picks a replica for a read among candidates, honouring each breaker's
 * half-open probe limit and, with SERVICE_ZONE set, the zones: a replica in
 * the service's zone when one qualifies, else the nearest other zone by
 * observed read latency. The strategy (the cluster's selector) balances
 * within the chosen zone.
 */
export class ZoneAwarePicker {
  /** @param serviceZone SERVICE_ZONE; null = no preference. */
  constructor(readonly serviceZone: string | null) {}

  /**
   * Picks among `candidates` (minus `tried`), honouring each breaker's
   * half-open probe limit. With SERVICE_ZONE set: a replica in the service's
   * zone when one qualifies, else the nearest other zone by observed read
   * latency; the strategy balances within the chosen zone.
   * @returns the permit on the picked replica's breaker (`owner` is the
   *   replica), which the read attempt that uses it settles; undefined when
   *   none may take the read.
   */
  pick(
    cluster: NodeCluster,
    candidates: readonly ReplicaNode[],
    tried: readonly DbNode[] | undefined,
  ): ReplicaPermit | undefined {
    const list =
      tried === undefined
        ? candidates
        : candidates.filter((n) => !tried.includes(n));
    if (this.serviceZone === null) return pickAcquired(cluster, list);
    const zone = this.serviceZone;
    const local = pickAcquired(
      cluster,
      list.filter((n) => n.zone === zone),
    );
    if (local !== undefined) return local;
    let rest = list.filter((n) => n.zone !== zone);
    while (rest.length > 0) {
      const nearest = nearestZone(rest);
      const permit = pickAcquired(
        cluster,
        rest.filter((n) => n.zone === nearest),
      );
      if (permit !== undefined) return permit;
      rest = rest.filter((n) => n.zone !== nearest);
    }
    return undefined;
  }

  /** `replica`, or `zone_spill` for a replica outside SERVICE_ZONE. */
  replicaReason(node: DbNode): "replica" | "zone_spill" {
    return this.serviceZone !== null && node.zone !== this.serviceZone
      ? "zone_spill"
      : "replica";
  }

  /**
   * With SERVICE_ZONE set, why a read planned onto `node` left the zone
   * (null when it did not): no replica configured there, every one there
   * down (their state), or none there satisfying the read (consistency,
   * retry, breaker probe limit).
   */
  spillReason(cluster: NodeCluster, node: DbNode): string | null {
    const zone = this.serviceZone;
    if (zone === null || node.role !== "replica" || node.zone === zone)
      return null;
    const local = cluster.replicas.filter((n) => n.zone === zone);
    if (local.length === 0) return "no_local_replica";
    const serving = local.filter((n) => cluster.serving.includes(n));
    if (serving.length > 0) return "local_not_eligible";
    // One word for the zone: the same state everywhere, else "down".
    const states = new Set(local.map((n) => cluster.stateOf(n)));
    return states.size === 1 ? `local_${[...states][0]!}` : "local_down";
  }
}

/** `selector.pick` among `list`, skipping nodes whose breaker refuses another probe; the permit of the one picked. */
function pickAcquired(
  cluster: NodeCluster,
  candidates: readonly ReplicaNode[],
): ReplicaPermit | undefined {
  let list = candidates;
  while (list.length > 0) {
    const node = cluster.selector.pick(list)!;
    const permit = node.breaker.tryAcquire();
    if (permit !== null) return permit;
    list = list.filter((n) => n !== node);
  }
  return undefined;
}

/** The zone of `nodes` with the lowest median read latency seen (unknown last; ties by name). */
function nearestZone(nodes: readonly DbNode[]): string | null {
  let best: { zone: string | null; ms: number } | null = null;
  for (const n of nodes) {
    const ms = n.latency.percentile(0.5, 5) ?? Infinity;
    if (
      best === null ||
      ms < best.ms ||
      (ms === best.ms && (n.zone ?? "") < (best.zone ?? ""))
    )
      best = { zone: n.zone, ms };
  }
  return best?.zone ?? null;
}

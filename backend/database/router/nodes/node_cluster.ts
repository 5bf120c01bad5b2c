import type { DbNode } from "./db_node";
import type { NodeState } from "./node_types";
import type { ReplicaNode } from "./replica_node";
import type { ReplicaSelector } from "../selection/replica_selector";

/** Why a read went to the primary instead of a replica. */
export type FallbackReason =
  | "no_replicas_configured"
  | "no_replica_healthy"
  | "circuit_open"
  | "all_lagging"
  | "not_a_replica";

/** Lag bound that takes a replica out of rotation (REPLICA_MAX_LAG_*). */
export interface LagBound {
  maxLagSeconds?: number;
  maxLagBytes?: number;
}

/**
 * A primary and its replicas. Keeps the list of replicas that may serve
 * eventual reads, recomputed on every health, circuit or lag change rather
 * than per read, and the reason when that list is empty.
 */
export class NodeCluster {
  /** Replicas that may serve an eventual read now. */
  serving: readonly ReplicaNode[] = [];
  /** Why `serving` is empty (meaningless when it is not). */
  fallbackReason: FallbackReason = "no_replica_healthy";

  constructor(
    readonly name: string,
    readonly primary: DbNode,
    public replicas: readonly ReplicaNode[],
    readonly selector: ReplicaSelector,
    private readonly bound: LagBound,
  ) {
    this.refresh();
  }

  /** Recomputes `serving` and `fallbackReason` from every replica's state. */
  refresh(): void {
    const serving: ReplicaNode[] = [];
    let open = 0;
    let lagging = 0;
    let notReplica = 0;
    for (const node of this.replicas) {
      const state = node.state(this.bound);
      if (state === "healthy") serving.push(node);
      else if (state === "circuit_open") open++;
      else if (state === "lagging") lagging++;
      else if (state === "not_a_replica") notReplica++;
    }
    this.serving = serving;
    const active = this.replicas.filter((n) => !n.disabled).length;
    this.fallbackReason =
      active === 0
        ? "no_replicas_configured"
        : open === active
          ? "circuit_open"
          : lagging === active
            ? "all_lagging"
            : notReplica === active
              ? "not_a_replica"
              : "no_replica_healthy";
  }

  /** `node`'s state under this cluster's lag bound (REPLICA_MAX_LAG_*). */
  stateOf(node: DbNode): NodeState {
    return node.state(this.bound);
  }

  /** Every node, primary first. */
  get nodes(): DbNode[] {
    return [this.primary, ...this.replicas];
  }
}

import type { BreakerPermit, CircuitBreaker } from "../health/circuit_breaker";
import type { LagTracker } from "../lag/lag_tracker";
import type { DbNode } from "./db_node";

/** A replica: a node that always has a circuit breaker and a lag tracker. */
export type ReplicaNode = DbNode & {
  readonly role: "replica";
  readonly breaker: CircuitBreaker<ReplicaNode>;
  readonly lag: LagTracker;
};

/** The permit a replica read's attempt holds on the replica's breaker. */
export type ReplicaPermit = BreakerPermit<ReplicaNode>;

/** `node` as the replica it is. @throws {TypeError} for a primary. */
export function asReplica(node: DbNode): ReplicaNode {
  if (node.role !== "replica" || node.breaker === null || node.lag === null)
    throw new TypeError(`${node.name} is not a replica`);
  return node as ReplicaNode;
}

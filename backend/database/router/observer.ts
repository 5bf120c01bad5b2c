import type { DbNode } from "./nodes/db_node";
import type { RouteReason } from "./read_planner";

/** Hooks for metrics; called synchronously on the query path, so keep them cheap. */
export interface RouterObserver {
  /** A read was routed to `node` for `reason`. */
  onRoute?(node: DbNode, endpoint: string, reason: RouteReason): void;
  /**
   * With SERVICE_ZONE set, a replica read was planned in the service's zone
   * (`local`) or outside it (`spill`, with why: `no_local_replica`,
   * `local_<state>` when every local replica is down, `local_not_eligible`
   * when none there satisfies the read).
   */
  onZoneRead?(node: DbNode, locality: "local" | "spill", why: string): void;
  /** A statement finished on `node` after `seconds`. */
  onQuery?(node: DbNode, kind: "read" | "write", seconds: number): void;
  /**
   * A read attempt on `node` failed for the node's fault (connection refused
   * or reset, server shutting down, ...; `classifyPgError` says `"node"`).
   * `"retried"`: a replica failed and the read moved to another node.
   * `"failed"`: the primary failed on the read path and the caller got
   * `unavailable`. Caller errors and recovery conflicts are not reported.
   */
  onReadFailed?(
    node: DbNode,
    endpoint: string,
    outcome: ReadFailureOutcome,
  ): void;
}

/** What became of a read whose attempt on a node failed for the node's fault. */
export type ReadFailureOutcome = "retried" | "failed";

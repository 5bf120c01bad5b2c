import { NodeUnavailableError } from "../base/errors";
import type { HealthChecker } from "../health/health_checker";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError, failureCategory } from "../base/pg_errors";

/**
 * Counts a failure of the primary of `cluster`, asks for a health check,
 * and returns the `unavailable` error the caller throws. Its message names
 * the kind of failure only (`primary unavailable (connection refused)`):
 * it reaches every caller, and the error text names the primary's host and
 * port. The full text is the node's last error (the status page, to token
 * holders) and the cause.
 */
export function primaryFailure(
  health: HealthChecker,
  cluster: NodeCluster,
  err: unknown,
): NodeUnavailableError {
  const node = cluster.primary;
  const error = describePgError(err);
  node.countFailure();
  node.health.recordPassiveFailure(error);
  health.checkSoon(cluster, node);
  return new NodeUnavailableError(
    node.name,
    `primary unavailable (${failureCategory(err)})`,
    { cause: err },
  );
}

/** The error for a "primary" that refuses writes: demoted, or in recovery. */
export function readOnlyPrimary(
  cluster: NodeCluster,
  err: unknown,
): NodeUnavailableError {
  return new NodeUnavailableError(
    cluster.primary.name,
    "the primary is read-only (in recovery or demoted)",
    { cause: err },
  );
}

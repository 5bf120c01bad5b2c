import { NodeUnavailableError } from "../base/errors";
import type { HealthChecker } from "../health/health_checker";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";

/**
 * Counts a failure of the primary of `cluster`, asks for a health check,
 * and returns the `unavailable` error the caller throws.
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
  return new NodeUnavailableError(node.name, `primary unavailable (${error})`, {
    cause: err,
  });
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

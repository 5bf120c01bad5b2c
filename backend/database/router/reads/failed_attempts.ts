import { OverloadedError } from "../base/errors";
import type { HealthChecker } from "../health/health_checker";
import type { DbNode } from "../nodes/db_node";
import type { NodeCluster } from "../nodes/node_cluster";
import { classifyPgError, describePgError } from "../base/pg_errors";
import type { RouterObserver } from "../observer";
import type { Logger } from "../support/logger";
import { ReplayGuardMiss } from "../nodes/guarded_read";
import type { AttemptFailure } from "./pending_read";

/** What the failed attempts of one round say about the next. */
export interface Settled {
  /** The first error that is the caller's (thrown to it). */
  callerError: unknown;
  /** The first refusal as a write (the read goes to the primary). */
  refused: AttemptFailure | undefined;
  /** Set when a replica's queue was full (the primary answers 503 instead). */
  overloaded: OverloadedError | undefined;
  /** Nodes not to plan again for this read. */
  tried: DbNode[] | undefined;
  /** A replica's read-your-writes check did not pass (planned again, not counted as an attempt). */
  behind: boolean;
}

/**
 * Sorts the failed attempts of one round of a replica read and does what
 * each fault calls for: a node's fault counts against its breaker and
 * health (and schedules a check), anything else gives the breaker's probe
 * slot back.
 */
export class FailedAttempts {
  constructor(
    private readonly deps: {
      readonly health: HealthChecker;
      readonly logger: Logger;
      readonly observer: RouterObserver;
    },
  ) {}

  /**
   * The node's fault (breaker, health check, not tried again), the
   * caller's fault (thrown), a refusal as a write (retried on the
   * primary), or a full queue (another node may have room).
   */
  sort(
    cluster: NodeCluster,
    endpoint: string,
    failures: readonly AttemptFailure[],
    tried: DbNode[] | undefined,
  ): Settled {
    const { observer } = this.deps;
    const out: Settled = {
      callerError: undefined,
      refused: undefined,
      overloaded: undefined,
      tried,
      behind: false,
    };
    for (const f of failures) {
      const kind =
        f.aborted !== null
          ? f.aborted
          : // A replica whose queue is full refused at once: another node may
            // have room. One that made the read wait the whole queue timeout
            // is answered as it is (503), so no request waits twice.
            f.error instanceof OverloadedError && f.error.why === "queue_full"
            ? "overloaded"
            : f.error instanceof ReplayGuardMiss
              ? "behind"
              : classifyPgError(f.error);
      if (kind === "node") {
        this.replicaFailed(cluster, f, f.error);
        observer.onReadFailed?.(f.node, endpoint, "retried");
      } else {
        f.permit.release();
        if (kind === "stalled")
          observer.onReadFailed?.(f.node, endpoint, "retried");
      }
      if (kind === "behind") {
        out.behind = true;
        // A "replica" out of recovery: promoted, or not a replica at all.
        if ((f.error as ReplayGuardMiss).reason === "not_in_recovery")
          this.deps.health.checkSoon(cluster, f.node);
      } else if (kind === "caller") out.callerError ??= f.error;
      else if (kind === "read_only") out.refused ??= f;
      else if (kind === "overloaded") {
        out.overloaded ??= f.error as OverloadedError;
        (out.tried ??= []).push(f.node);
      }
      // A node that stalled or failed is not tried again for this read (one
      // found behind is: after waiting for its replay).
      else if (kind !== "lost") (out.tried ??= []).push(f.node);
    }
    return out;
  }

  private replicaFailed(
    cluster: NodeCluster,
    { node, permit }: AttemptFailure,
    err: unknown,
  ): void {
    const error = describePgError(err);
    node.countFailure();
    permit.failure(error);
    node.health.recordPassiveFailure(error);
    cluster.refresh();
    this.deps.logger.warn("replica query failed; retrying elsewhere", {
      node: node.name,
      error,
    });
    this.deps.health.checkSoon(cluster, node);
  }
}

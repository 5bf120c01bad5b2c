import { RouterClosedError } from "../base/errors";
import type { HealthChecker } from "../health/health_checker";
import type { DbNode } from "../nodes/db_node";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ReplicaPermit } from "../nodes/replica_node";
import { describePgError } from "../base/pg_errors";
import type { RouterObserver } from "../observer";
import type { PrimaryExecutor } from "../primary/primary_executor";
import type { Choice, ReadPlanner } from "../read_planner";
import { noteServedBy } from "../base/request_context";
import type { ReadRequest, ReadResult } from "../routed_connections";
import type { RawSqlGate } from "../sql/raw_sql_gate";
import type { Logger } from "../support/logger";
import { refreshReplayed } from "../consistency/replay_wait";
import { singleStatement } from "../nodes/guarded_read";
import { FailedAttempts } from "./failed_attempts";
import type { CallerPrimaryReads } from "../limits/caller_primary_reads";
import type { AttemptFailure, HedgedReader, HedgedResult } from "./hedged_read";
import { ReadProgress, type ReplicaOutcome } from "./read_progress";

/** What {@link ReadExecutor} works with. */
export interface ReadExecutorDeps {
  readonly planner: ReadPlanner;
  readonly hedged: HedgedReader;
  readonly rawSql: RawSqlGate;
  readonly primary: PrimaryExecutor;
  readonly health: HealthChecker;
  readonly logger: Logger;
  readonly observer: RouterObserver;
  /** CALLER_PRIMARY_READS: reads a caller's consistency sends to the primary. */
  readonly callerPrimaryReads: CallerPrimaryReads;
  /** Longest wait for a replica's replay position before a cache fill (ms). */
  readonly refreshTimeoutMs: number;
  isClosed(): boolean;
}

const MAX_READ_ATTEMPTS = 3;

/**
 * Runs reads: planned by the {@link ReadPlanner}, hedged on replicas, and
 * retried elsewhere when a node fails for its own fault: up to two rounds on
 * replicas (each without the nodes already tried), then the primary. A
 * statement a replica refuses as a write goes to the primary; raw SQL not
 * proven read-only never leaves it.
 *
 * The common read (planned synchronously onto a replica) costs one Promise,
 * the hedged read's, and one {@link ReadProgress}: what follows the
 * replica's answer (breaker, metrics, served-by, or the next attempt) runs
 * as the read settles.
 */
export class ReadExecutor implements ReplicaOutcome {
  private readonly failures: FailedAttempts;

  constructor(private readonly deps: ReadExecutorDeps) {
    this.failures = new FailedAttempts(deps);
  }

  /**
   * Runs a read: routed, retried on another node if the first fails for the
   * node's fault. Resolves with its rows once `req.served` heard the node.
   */
  read(
    req: ReadRequest,
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<ReadResult> {
    try {
      if (this.deps.isClosed()) throw new RouterClosedError();
      if (raw && !this.deps.rawSql.provablyReadOnly(sql)) {
        // Possibly a write: the request gets a token, so a later read can see it.
        return this.onPrimaryAsWrite(req, sql, params);
      }
      const read = new ReadProgress(req, sql, params, this);
      const choice = this.deps.planner.choose(
        req.cluster,
        req.consistency,
        req.endpoint,
        undefined,
        req.consistency.level === "read_your_writes" && singleStatement(sql),
      );
      // Most reads are planned synchronously; read-your-writes waits are not.
      if (choice instanceof Promise) return this.attempts(read, choice);
      return this.dispatch(read, choice);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Plans and runs attempts from `read.attempt` on (`planned`: that attempt's plan, when made). */
  private async attempts(
    read: ReadProgress,
    planned?: Choice | Promise<Choice>,
  ): Promise<ReadResult> {
    const { cluster, consistency, endpoint } = read;
    for (; ; read.attempt++) {
      let choice: Choice | Promise<Choice> =
        planned ??
        (read.attempt === MAX_READ_ATTEMPTS
          ? { node: cluster.primary, reason: "retry" }
          : this.deps.planner.choose(
              cluster,
              consistency,
              endpoint,
              read.tried,
              consistency.level === "read_your_writes" &&
                !read.checked &&
                singleStatement(read.sql),
            ));
      planned = undefined;
      if (choice instanceof Promise) {
        choice = await choice;
        // The wait may have outlived the node's eligibility (promoted,
        // stalled, removed): plan again rather than read there.
        const { permit } = choice;
        if (permit !== undefined && !cluster.serving.includes(permit.owner)) {
          permit.release();
          (read.tried ??= []).push(permit.owner);
          continue;
        }
      }
      return await this.dispatch(read, choice);
    }
  }

  /** Sends the current attempt to its planned node (a replica's breaker permit goes with the attempt). */
  private dispatch(
    read: ReadProgress,
    { node, reason, guard, permit }: Choice,
  ): Promise<ReadResult> {
    if (permit !== undefined) this.noteZone(read.cluster, node);
    // Replicas too busy is not a reason to load the primary with their
    // reads (its slots are for writes and strong reads): answer 503.
    else if (read.overloaded !== undefined)
      return Promise.reject(read.overloaded);
    else {
      const gate = this.deps.callerPrimaryReads;
      const { ctx } = read.req;
      if (gate.applies(reason, read.consistency, ctx))
        return gate.run(reason, ctx, () => {
          node.countRead();
          this.deps.observer.onRoute?.(node, read.endpoint, reason);
          return this.onPrimary(read, node);
        });
    }
    node.countRead();
    this.deps.observer.onRoute?.(node, read.endpoint, reason);
    if (permit === undefined) return this.onPrimary(read, node);
    read.node = node;
    read.guard = guard ?? 0n;
    if (guard !== undefined) read.checked = true;
    // A cache fill: its data must include the scopes' fence to be stored.
    if (read.req.position !== undefined)
      return this.fillOnReplica(read, permit);
    read.floor = 0n;
    read.asOfMs = 0;
    return this.deps.hedged.read(read, permit, read.sql, read.params, read);
  }

  private async onPrimary(
    { req, sql, params }: ReadProgress,
    node: DbNode,
  ): Promise<ReadResult> {
    const rows = await this.deps.primary.run(
      req.cluster,
      sql,
      params,
      req.ctx,
      {
        kind: "read",
        endpoint: req.endpoint,
        position: req.position,
      },
    );
    req.served(node);
    return rows;
  }

  /** A cache fill on a replica: a last lag sample older than the scopes' fence is refreshed first (one tiny query). */
  private async fillOnReplica(
    read: ReadProgress,
    permit: ReplicaPermit,
  ): Promise<ReadResult> {
    const node = permit.owner;
    if (read.req.position!.required > node.replayedLsn)
      await refreshReplayed(node, this.deps.refreshTimeoutMs);
    // What the data will include at least: replay only moves forward.
    read.floor = node.replayedLsn;
    read.asOfMs = replicaAsOf(node);
    return await this.deps.hedged.read(
      read,
      permit,
      read.sql,
      read.params,
      read,
    );
  }

  /** @internal A replica attempt settled: its rows, or the next attempt (or the caller's error). */
  replicaSettled(
    read: ReadProgress,
    result: HedgedResult,
  ): ReadResult | Promise<ReadResult> {
    const { req, cluster, endpoint } = read;
    const { observer } = this.deps;
    if (result.hedgedTo !== null) {
      result.hedgedTo.countRead();
      observer.onRoute?.(result.hedgedTo, endpoint, "hedge");
      this.noteZone(cluster, result.hedgedTo);
    }
    let behind = false;
    if (result.failures.length > 0) {
      const settled = this.failures.sort(
        cluster,
        endpoint,
        result.failures,
        read.tried,
      );
      read.tried = settled.tried;
      read.overloaded ??= settled.overloaded;
      behind = settled.behind;
      if (result.rows === null) {
        if (settled.callerError !== undefined) throw settled.callerError;
        if (settled.refused !== undefined)
          return this.retryRefused(read, settled.refused);
      }
    }
    // Every attempt failed for a node's fault: plan again without those
    // nodes. A replica found behind the token is no failed attempt: the
    // plan then waits for its replay, or goes where the token is visible.
    if (result.rows === null) {
      // A check that did not pass is no failed attempt: the read sends at
      // most one (read.checked), then waits for replay or goes elsewhere.
      if (!(behind && result.failures.length === 1)) read.attempt++;
      return this.attempts(read);
    }
    // A hedge target's position was not taken before its read: unknown.
    req.position?.note(
      result.node === read.node ? read.floor : null,
      read.asOfMs,
    );
    result.permit.success();
    observer.onQuery?.(result.node, "read", result.seconds);
    noteServedBy(req.ctx, result.node.name);
    req.served(result.node);
    return result.rows;
  }

  /**
   * A standby refused work only the primary can do, unseen by the gate (a
   * view calling a writing function, an unlogged table, a temporary
   * schema...). The gate sends this text to the primary from now on.
   */
  private retryRefused(
    { req, sql, params }: ReadProgress,
    refused: AttemptFailure,
  ): Promise<ReadResult> {
    const { shape, firstOfShape } = this.deps.rawSql.noteRefusal(
      sql,
      refused.error,
    );
    if (firstOfShape) {
      this.deps.logger.warn(
        "classifier miss: a replica refused a statement as a write; retried on the primary (logged once per statement shape)",
        {
          node: refused.node.name,
          endpoint: req.endpoint,
          error: describePgError(refused.error),
          shape,
        },
      );
    }
    req.cluster.primary.countRead();
    this.deps.observer.onRoute?.(req.cluster.primary, req.endpoint, "retry");
    // It was a write after all: the request gets a token for it.
    return this.onPrimaryAsWrite(req, sql, params);
  }

  /** Runs a read that may have written on the primary; the request will get a token. */
  private async onPrimaryAsWrite(
    req: ReadRequest,
    sql: string,
    params: unknown[],
  ): Promise<ReadResult> {
    const { cluster, ctx, endpoint, orgId } = req;
    if (ctx !== undefined) ctx.wroteCluster = cluster.name;
    // Possibly a write: it invalidates what it may have changed, and its
    // result is never cached.
    req.position?.note(null, 0);
    const rows = await this.deps.primary.run(cluster, sql, params, ctx, {
      kind: "read",
      endpoint,
      orgId,
      mayWrite: true,
    });
    req.served(cluster.primary);
    return rows;
  }

  /** With SERVICE_ZONE set, tells the observer whether `node` is local or a spill. */
  private noteZone(cluster: NodeCluster, node: DbNode): void {
    const { planner, observer } = this.deps;
    if (planner.serviceZone === null || observer.onZoneRead === undefined)
      return;
    const why = planner.spillReason(cluster, node);
    observer.onZoneRead(node, why === null ? "local" : "spill", why ?? "");
  }
}

/** The time a replica's data is at least as fresh as: its last lag sample minus the lag it showed (0 when unknown). */
function replicaAsOf(node: DbNode): number {
  const r = node.lag?.reading;
  if (r === undefined || r.sampledAtMs === null || r.lagSeconds === null)
    return 0;
  return r.sampledAtMs - r.lagSeconds * 1000;
}

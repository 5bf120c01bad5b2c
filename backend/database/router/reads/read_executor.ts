import { OverloadedError, RouterClosedError } from "../errors";
import type { HealthChecker } from "../health/health_checker";
import type { DbNode } from "../nodes/db_node";
import type { NodeCluster } from "../nodes/node_cluster";
import { classifyPgError, describePgError } from "../nodes/pg_errors";
import type { RouterObserver } from "../observer";
import type { PrimaryExecutor } from "../primary/primary_executor";
import type { Choice, ReadPlanner } from "../read_planner";
import { noteServedBy } from "../request_context";
import type { ReadRequest, ReadResult } from "../routed_connections";
import type { RawSqlGate } from "../sql/raw_sql_gate";
import type { Logger } from "../support/logger";
import { refreshReplayed } from "../consistency/replay_wait";
import type { AttemptFailure, HedgedReader } from "./hedged_read";

/** What {@link ReadExecutor} works with. */
export interface ReadExecutorDeps {
  readonly planner: ReadPlanner;
  readonly hedged: HedgedReader;
  readonly rawSql: RawSqlGate;
  readonly primary: PrimaryExecutor;
  readonly health: HealthChecker;
  readonly logger: Logger;
  readonly observer: RouterObserver;
  /** Longest wait for a replica's replay position before a cache fill (ms). */
  readonly refreshTimeoutMs: number;
  isClosed(): boolean;
}

/** What the failed attempts of one round say about the next. */
interface Settled {
  callerError: unknown;
  refused: AttemptFailure | undefined;
  overloaded: OverloadedError | undefined;
  tried: DbNode[] | undefined;
}

const MAX_READ_ATTEMPTS = 3;

/**
 * Runs reads: planned by the {@link ReadPlanner}, hedged on replicas, and
 * retried elsewhere when a node fails for its own fault: up to two rounds on
 * replicas (each without the nodes already tried), then the primary. A
 * statement a replica refuses as a write goes to the primary; raw SQL not
 * proven read-only never leaves it.
 */
export class ReadExecutor {
  constructor(private readonly deps: ReadExecutorDeps) {}

  /** Runs a read: routed, retried on another node if the first fails for the node's fault. */
  async read(
    req: ReadRequest,
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<ReadResult> {
    if (this.deps.isClosed()) throw new RouterClosedError();
    const { planner, hedged, observer } = this.deps;
    const { cluster, consistency, endpoint, ctx } = req;
    if (raw && !this.deps.rawSql.provablyReadOnly(sql)) {
      // Possibly a write: the request gets a token, so a later read can see it.
      return this.onPrimaryAsWrite(req, sql, params);
    }
    let tried: DbNode[] | undefined;
    let overloaded: OverloadedError | undefined;
    for (let attempt = 1; ; attempt++) {
      let choice: Choice | Promise<Choice> =
        attempt === MAX_READ_ATTEMPTS
          ? { node: cluster.primary, reason: "retry" }
          : planner.choose(cluster, consistency, endpoint, tried);
      // Most reads are planned synchronously; await only read-your-writes waits.
      if (choice instanceof Promise) {
        choice = await choice;
        // The wait may have outlived the node's eligibility (promoted,
        // stalled, removed): plan again rather than read there.
        if (
          choice.node.role === "replica" &&
          !cluster.serving.includes(choice.node)
        ) {
          choice.node.breaker!.release();
          (tried ??= []).push(choice.node);
          continue;
        }
      }
      const { node, reason } = choice;
      if (node.role === "replica") this.noteZone(cluster, node);
      // Replicas too busy is not a reason to load the primary with their
      // reads (its slots are for writes and strong reads): answer 503.
      if (node.role === "primary" && overloaded !== undefined) throw overloaded;
      node.reads++;
      observer.onRoute?.(node, endpoint, reason);
      if (node.role === "primary") {
        const rows = await this.deps.primary.run(cluster, sql, params, ctx, {
          kind: "read",
          endpoint,
          position: req.position,
        });
        return { rows, node };
      }
      // A cache fill: its data must include the scopes' fence to be stored.
      // A last lag sample older than that is refreshed first (one tiny query).
      if (
        req.position !== undefined &&
        req.position.required > node.replayedLsn
      )
        await refreshReplayed(node, this.deps.refreshTimeoutMs);
      // What the data will include at least: replay only moves forward.
      const floor = req.position === undefined ? 0n : node.replayedLsn;
      const asOfMs = req.position === undefined ? 0 : replicaAsOf(node);
      const result = await hedged.read(
        { cluster, consistency, endpoint, tried },
        node,
        sql,
        params,
      );
      if (result.hedgedTo !== null) {
        result.hedgedTo.reads++;
        observer.onRoute?.(result.hedgedTo, endpoint, "hedge");
        this.noteZone(cluster, result.hedgedTo);
      }
      if (result.failures.length > 0) {
        const settled = this.settle(cluster, endpoint, result.failures, tried);
        tried = settled.tried;
        overloaded ??= settled.overloaded;
        if (result.rows === null) {
          if (settled.callerError !== undefined) throw settled.callerError;
          if (settled.refused !== undefined)
            return this.retryRefused(req, settled.refused, sql, params);
        }
      }
      // Every attempt failed for a node's fault: plan again without those nodes.
      if (result.rows === null) continue;
      // A hedge target's position was not taken before its read: unknown.
      req.position?.note(result.node === node ? floor : null, asOfMs);
      result.node.breaker!.recordSuccess();
      observer.onQuery?.(result.node, "read", result.seconds);
      noteServedBy(ctx, result.node.name);
      return { rows: result.rows, node: result.node };
    }
  }

  /**
   * Sorts the failed attempts of one round: the node's fault (breaker,
   * health check, not tried again), the caller's fault (thrown), a refusal
   * as a write (retried on the primary), or a full queue (another node may
   * have room).
   */
  private settle(
    cluster: NodeCluster,
    endpoint: string,
    failures: readonly AttemptFailure[],
    tried: DbNode[] | undefined,
  ): Settled {
    const out: Settled = {
      callerError: undefined,
      refused: undefined,
      overloaded: undefined,
      tried,
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
            : classifyPgError(f.error);
      if (kind === "node") {
        this.replicaFailed(cluster, f.node, f.error);
        this.deps.observer.onReadFailed?.(f.node, endpoint, "retried");
      } else {
        f.node.breaker!.release();
        if (kind === "stalled")
          this.deps.observer.onReadFailed?.(f.node, endpoint, "retried");
      }
      if (kind === "caller") out.callerError ??= f.error;
      else if (kind === "read_only") out.refused ??= f;
      else if (kind === "overloaded") {
        out.overloaded ??= f.error as OverloadedError;
        (out.tried ??= []).push(f.node);
      }
      // A node that stalled or failed is not tried again for this read.
      else if (kind !== "lost") (out.tried ??= []).push(f.node);
    }
    return out;
  }

  /**
   * A standby refused work only the primary can do, unseen by the gate (a
   * view calling a writing function, an unlogged table, a temporary
   * schema...). The gate sends this text to the primary from now on.
   */
  private async retryRefused(
    req: ReadRequest,
    refused: AttemptFailure,
    sql: string,
    params: unknown[],
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
    req.cluster.primary.reads++;
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
    return { rows, node: cluster.primary };
  }

  /** With SERVICE_ZONE set, tells the observer whether `node` is local or a spill. */
  private noteZone(cluster: NodeCluster, node: DbNode): void {
    const { planner, observer } = this.deps;
    if (planner.serviceZone === null || observer.onZoneRead === undefined)
      return;
    const why = planner.spillReason(cluster, node);
    observer.onZoneRead(node, why === null ? "local" : "spill", why ?? "");
  }

  private replicaFailed(
    cluster: NodeCluster,
    node: DbNode,
    err: unknown,
  ): void {
    const error = describePgError(err);
    node.failures++;
    node.breaker!.recordFailure(error);
    node.health.recordPassiveFailure(error);
    cluster.refresh();
    this.deps.logger.warn("replica query failed; retrying elsewhere", {
      node: node.name,
      error,
    });
    this.deps.health.checkSoon(cluster, node);
  }
}

/** The time a replica's data is at least as fresh as: its last lag sample minus the lag it showed (0 when unknown). */
function replicaAsOf(node: DbNode): number {
  const r = node.lag?.reading;
  if (r === undefined || r.sampledAtMs === null || r.lagSeconds === null)
    return 0;
  return r.sampledAtMs - r.lagSeconds * 1000;
}

import type { FillPosition } from "../cache/cache_types";
import type { QueryCache } from "../cache/query_cache";
import type { WriteGate } from "../cache/write_targets";
import { RouterClosedError, TransactionRolledBackError } from "../base/errors";
import type { ClusterDirectory } from "../topology/cluster_directory";
import type { HealthChecker } from "../health/health_checker";
import type { ConcurrencyCaps } from "../limits/concurrency_caps";
import type { NodeCluster } from "../nodes/node_cluster";
import { classifyPgError } from "../base/pg_errors";
import { isServerError } from "../nodes/pipelined_write";
import type { DbNode } from "../nodes/db_node";
import type { PgClient } from "../nodes/pg_pool";
import type { RouterObserver } from "../observer";
import type { QueryApi, Row } from "../base/query_api";
import {
  noteServedBy,
  noteWritePosition,
  type RequestContext,
} from "../base/request_context";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";
import { pipelinable } from "./pipelinable";
import { primaryFailure, readOnlyPrimary } from "./primary_failure";
import { TransactionConnection } from "./transaction_connection";
import { lsnOrNull, WalPositions } from "./wal_positions";
import {
  commit,
  commitWithPosition,
  runPipelinedWrite,
} from "./write_with_position";
import { WriteInvalidation } from "./write_invalidation";

/** What {@link PrimaryExecutor} works with. */
export interface PrimaryExecutorDeps {
  readonly directory: ClusterDirectory;
  readonly health: HealthChecker;
  readonly caps: ConcurrencyCaps;
  readonly logger: Logger;
  readonly observer: RouterObserver;
  /** The query cache to invalidate after writes; null when there is none. */
  readonly cache: QueryCache | null;
  /** Decides which tables a write changed (the raw-SQL gate). */
  readonly writeGate: WriteGate;
  /** The primary's WAL position at the last lag sample of a cluster. */
  readonly lastPrimaryLsn: (cluster: string) => bigint | null;
  readonly clock: Clock;
  isClosed(): boolean;
}

/** How {@link PrimaryExecutor.run} runs a statement. */
export interface PrimaryRun {
  /** `write`: a write (it invalidates the cache); `read`: a read routed here. */
  readonly kind: "read" | "write";
  /** Endpoint for the observer's failed-read count. */
  readonly endpoint?: string;
  /** Org of the data, for cache invalidation. */
  readonly orgId?: number;
  /** A read that may write after all (raw SQL not proven read-only): invalidates like a write. */
  readonly mayWrite?: boolean;
  /** Set when the read fills a cache entry. */
  readonly position?: FillPosition;
}

/**
 * Everything that runs on a cluster's primary: writes, strong and fallback
 * reads, transactions on one checked-out connection, and the consistency
 * token (the primary's WAL position) after a write. A failure for the
 * primary's fault becomes `unavailable` and asks for a health check.
 */
export class PrimaryExecutor {
  private readonly invalidation: WriteInvalidation;
  private readonly positions: WalPositions;

  constructor(private readonly deps: PrimaryExecutorDeps) {
    this.invalidation = new WriteInvalidation(deps);
    this.positions = new WalPositions(deps);
  }

  /**
   * Runs one statement on the primary of `cluster`; a node-level failure
   * becomes `unavailable` (and, for `kind` "read", a failed read of
   * `endpoint` for the observer).
   */
  async run(
    cluster: NodeCluster,
    sql: string,
    params: unknown[],
    ctx: RequestContext | undefined,
    opts: PrimaryRun,
  ): Promise<Row[]> {
    if (this.deps.isClosed()) throw new RouterClosedError();
    const { observer } = this.deps;
    const { kind } = opts;
    const node = cluster.primary;
    const invalidates = kind === "write" || opts.mayWrite === true;
    if (opts.position !== undefined && !invalidates) {
      // Everything committed before the sampled position is visible to this
      // read; the sample's own last record may not be yet (minus one).
      const sampled = this.deps.lastPrimaryLsn(cluster.name);
      opts.position.note(
        sampled === null ? null : sampled - 1n,
        this.deps.clock.now(),
      );
    }
    // A request that will answer with a token reads the position with the
    // write, in the same round trip; any other write sends only itself.
    const wantsToken = invalidates && ctx?.wantsToken === true;
    const withPosition = wantsToken && pipelinable(sql);
    const mark = withPosition ? this.invalidation.mark() : undefined;
    const t0 = observer.onQuery === undefined ? 0 : performance.now();
    try {
      let rows: Row[];
      let lsn: bigint | null = null;
      if (withPosition)
        ({ rows, lsn } = await this.runWithPosition(node, sql, params));
      else rows = await node.runAdmitted(sql, params);
      if (t0 !== 0)
        observer.onQuery!(node, kind, (performance.now() - t0) / 1000);
      noteServedBy(ctx, node.name);
      if (wantsToken) noteWritePosition(ctx!, cluster.name, lsn);
      if (invalidates) {
        const pending = this.invalidation.invalidate(
          cluster,
          [sql],
          opts.orgId,
          lsn,
          mark,
        );
        if (pending !== undefined) await pending;
      }
      return rows;
    } catch (err) {
      const fault = classifyPgError(err);
      if (fault === "node") {
        // The statement may have committed before the connection broke.
        if (wantsToken) noteWritePosition(ctx!, cluster.name, null);
        if (invalidates)
          void this.invalidation.invalidate(cluster, [sql], opts.orgId);
        if (kind === "read")
          observer.onReadFailed?.(node, opts.endpoint ?? "", "failed");
        throw primaryFailure(this.deps.health, cluster, err);
      }
      // The "primary" refuses writes: it was demoted or is in recovery. Not the
      // caller's fault, and not fixable by retrying here: unavailable.
      if (fault === "read_only") throw readOnlyPrimary(cluster, err);
      // A write can fail after its commit (a type parser throwing on its
      // returned rows; the server's own refusals carry a SQLSTATE and
      // committed nothing): invalidating costs at most some misses, and
      // the request's token must not claim to cover it.
      if (wantsToken && !isServerError(err))
        noteWritePosition(ctx!, cluster.name, null);
      if (invalidates)
        void this.invalidation.invalidate(cluster, [sql], opts.orgId);
      throw err;
    }
  }

  /**
   * One write and the primary's WAL position after its commit, in one round
   * trip (see pipelined_write.ts), through the node's admission like any
   * request-path statement.
   */
  private async runWithPosition(
    node: DbNode,
    sql: string,
    params: unknown[],
  ): Promise<{ rows: Row[]; lsn: bigint | null }> {
    const wait = node.admission.acquire();
    if (wait !== undefined) await wait;
    node.statementStarted();
    try {
      const done = await runPipelinedWrite(node.pool, sql, params);
      return { rows: done.rows, lsn: lsnOrNull(done.lsn) };
    } finally {
      node.statementEnded();
      node.admission.release();
    }
  }

  /** Runs `fn` in one transaction on the primary of the cluster of `orgId`. */
  async transaction<T>(
    orgId: number | undefined,
    ctx: RequestContext | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    const cluster = this.deps.directory.of(orgId);
    const { caps } = this.deps;
    const release = caps.enabled
      ? await caps.acquire(ctx?.userId, orgId)
      : undefined;
    try {
      const admission = cluster.primary.admission;
      const wait = admission.acquire();
      if (wait !== undefined) await wait;
      let done: Committed<T>;
      try {
        done = await this.runTransaction(cluster, orgId, ctx, fn);
      } finally {
        admission.release();
      }
      // After the connection and the slot are back.
      const pending = this.invalidation.invalidate(
        cluster,
        done.statements,
        orgId,
        done.lsn,
        done.mark,
      );
      if (pending !== undefined) await pending;
      return done.result;
    } finally {
      release?.();
    }
  }

  /** @see WalPositions.consistencyToken */
  consistencyToken(clusterName: string, ctx?: RequestContext): Promise<string> {
    return this.positions.consistencyToken(clusterName, ctx);
  }

  /** @see WalPositions.tokenAfterWrite */
  tokenAfterWrite(
    clusterName: string,
    ctx?: RequestContext,
  ): Promise<string | null> {
    return this.positions.tokenAfterWrite(clusterName, ctx);
  }

  /** @see WalPositions.currentLsn */
  currentLsn(clusterName: string): Promise<bigint | null> {
    return this.positions.currentLsn(clusterName);
  }

  private async runTransaction<T>(
    cluster: NodeCluster,
    orgId: number | undefined,
    ctx: RequestContext | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<Committed<T>> {
    const primary = cluster.primary;
    let client: PgClient;
    try {
      client = await primary.pool.connect();
    } catch (err) {
      throw primaryFailure(this.deps.health, cluster, err);
    }
    let broken: Error | undefined;
    // Recorded whenever there is a cache, so a transaction that began
    // while it was off is still invalidated if it commits after it came on.
    const tx = new TransactionConnection(client, this.deps.cache !== null);
    let committing = false;
    try {
      await client.query("BEGIN");
      const result = await fn(tx);
      committing = true;
      const wantsToken = ctx?.wantsToken === true;
      // Before the COMMIT is sent, so its position may fence what it changed.
      const mark = wantsToken ? this.invalidation.mark() : undefined;
      let lsn: bigint | null = null;
      if (wantsToken) {
        const committed = await commitWithPosition(client);
        lsn = lsnOrNull(committed.lsn);
        if (!committed.reusable)
          broken = new Error("COMMIT flight given up after its answer");
      } else await commit(client);
      if (ctx !== undefined) ctx.wroteCluster = cluster.name;
      if (wantsToken) noteWritePosition(ctx!, cluster.name, lsn);
      noteServedBy(ctx, primary.name);
      return { result, statements: tx.statements, lsn, mark };
    } catch (err) {
      // Over already (rolled back at its own COMMIT): nothing to roll back.
      // (One thrown by `fn`, e.g. from a nested transaction, is not.)
      if (committing && err instanceof TransactionRolledBackError) {
        if (!err.connectionReusable) broken = err;
        throw err;
      }
      const kind = classifyPgError(err);
      if (kind === "node") {
        broken = err instanceof Error ? err : new Error(String(err));
        // COMMIT's outcome is unknown when the connection broke during it.
        if (committing) {
          if (ctx?.wantsToken === true)
            noteWritePosition(ctx, cluster.name, null);
          void this.invalidation.invalidate(cluster, tx.statements, orgId);
        }
        throw primaryFailure(this.deps.health, cluster, err);
      }
      if (kind === "read_only") {
        await client.query("ROLLBACK").catch(() => undefined);
        throw readOnlyPrimary(cluster, err);
      }
      await client.query("ROLLBACK").catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }
}

/** What a committed transaction hands back to {@link PrimaryExecutor.transaction}. */
interface Committed<T> {
  readonly result: T;
  readonly statements: readonly string[];
  /** The primary's position read with the COMMIT; null when not read. */
  readonly lsn: bigint | null;
  /** The cache's write mark taken before the COMMIT was sent. */
  readonly mark: number | undefined;
}

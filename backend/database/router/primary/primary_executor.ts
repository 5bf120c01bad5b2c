import type { FillPosition } from "../cache/cache_types";
import type { QueryCache } from "../cache/query_cache";
import { writeTargets, type WriteGate } from "../cache/write_targets";
import { formatToken } from "../consistency/consistency";
import { NodeUnavailableError, RouterClosedError } from "../errors";
import type { ClusterDirectory } from "../fleet/cluster_directory";
import type { HealthChecker } from "../health/health_checker";
import { parseLsn } from "../lag/lag_tracker";
import type { ConcurrencyCaps } from "../limits/concurrency_caps";
import type { NodeCluster } from "../nodes/node_cluster";
import { classifyPgError, describePgError } from "../nodes/pg_errors";
import type { PgClient } from "../nodes/pg_pool";
import type { RouterObserver } from "../observer";
import { QueryApi, type Row } from "../query_api";
import { noteServedBy, type RequestContext } from "../request_context";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";
import { withTimeout } from "../support/timeout";

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

/** Longest wait for the primary's position after a write (a missing fence only delays caching). */
const FENCE_TIMEOUT_MS = 250;

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
  constructor(private readonly deps: PrimaryExecutorDeps) {}

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
    const t0 = observer.onQuery === undefined ? 0 : performance.now();
    try {
      const rows = await node.runAdmitted(sql, params);
      if (t0 !== 0)
        observer.onQuery!(node, kind, (performance.now() - t0) / 1000);
      noteServedBy(ctx, node.name);
      if (invalidates) await this.invalidate(cluster, [sql], opts.orgId);
      return rows;
    } catch (err) {
      const fault = classifyPgError(err);
      if (fault === "node") {
        // The statement may have committed before the connection broke.
        if (invalidates) void this.invalidate(cluster, [sql], opts.orgId);
        if (kind === "read")
          observer.onReadFailed?.(node, opts.endpoint ?? "", "failed");
        throw this.failure(cluster, err);
      }
      // The "primary" refuses writes: it was demoted or is in recovery. Not the
      // caller's fault, and not fixable by retrying here: unavailable.
      if (fault === "read_only") throw readOnlyPrimary(cluster, err);
      throw err;
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
      let done: { result: T; statements: readonly string[] };
      try {
        done = await this.runTransaction(cluster, orgId, ctx, fn);
      } finally {
        admission.release();
      }
      // After the connection and the slot are back: the fence's statement
      // needs a connection of its own.
      await this.invalidate(cluster, done.statements, orgId);
      return done.result;
    } finally {
      release?.();
    }
  }

  /** The primary's current WAL position in `clusterName`, as a consistency token. */
  async consistencyToken(clusterName: string): Promise<string> {
    const cluster = this.deps.directory.named(clusterName);
    let rows: Row[];
    try {
      // Not through admission: the write it follows has committed and given
      // its slot back; queueing (or shedding) here would only drop the token
      // and leave the client's next read merely eventual. One tiny statement.
      rows = await cluster.primary.query(
        "SELECT pg_current_wal_lsn()::text AS lsn",
        [],
      );
    } catch (err) {
      throw classifyPgError(err) === "node" ? this.failure(cluster, err) : err;
    }
    return formatToken({
      cluster: cluster.name,
      lsn: parseLsn(String(rows[0]?.lsn)),
    });
  }

  /**
   * The token to return after a request that wrote to `clusterName`, or null
   * when the primary could not be asked. Never throws: the write has already
   * committed, and failing the response would make a client retry a write
   * that happened. Without a token the client's next read is merely eventual.
   */
  async tokenAfterWrite(clusterName: string): Promise<string | null> {
    try {
      return await this.consistencyToken(clusterName);
    } catch (err) {
      this.deps.logger.warn(
        "could not read the primary's WAL position after a write; no consistency token sent",
        { cluster: clusterName, error: describePgError(err) },
      );
      return null;
    }
  }

  private async runTransaction<T>(
    cluster: NodeCluster,
    orgId: number | undefined,
    ctx: RequestContext | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<{ result: T; statements: readonly string[] }> {
    const primary = cluster.primary;
    let client: PgClient;
    try {
      client = await primary.pool.connect();
    } catch (err) {
      throw this.failure(cluster, err);
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
      await client.query("COMMIT");
      if (ctx !== undefined) ctx.wroteCluster = cluster.name;
      noteServedBy(ctx, primary.name);
      return { result, statements: tx.statements };
    } catch (err) {
      const kind = classifyPgError(err);
      if (kind === "node") {
        broken = err instanceof Error ? err : new Error(String(err));
        // COMMIT's outcome is unknown when the connection broke during it.
        if (committing) void this.invalidate(cluster, tx.statements, orgId);
        throw this.failure(cluster, err);
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

  /**
   * Invalidates the cache entries `statements` may have changed: their
   * target tables for `orgId` (the whole cluster when a target is unknown).
   * The fence is the primary's position read after the write.
   */
  private async invalidate(
    cluster: NodeCluster,
    statements: readonly string[],
    orgId: number | undefined,
  ): Promise<void> {
    const cache = this.deps.cache;
    if (cache === null || !cache.invalidating || statements.length === 0)
      return;
    try {
      await this.invalidateTargets(cache, cluster, statements, orgId);
    } catch (err) {
      // Never fail a write that committed; the entries live up to their TTL.
      this.deps.logger.error("cache invalidation failed after a write", {
        cluster: cluster.name,
        error: describePgError(err),
      });
    }
  }

  private async invalidateTargets(
    cache: QueryCache,
    cluster: NodeCluster,
    statements: readonly string[],
    orgId: number | undefined,
  ): Promise<void> {
    const tables = new Set<string>();
    for (const sql of statements) {
      const targets = writeTargets(sql, this.deps.writeGate);
      if (targets === null) {
        await cache.invalidate(cluster.name, null, orgId);
        return;
      }
      for (const t of targets) tables.add(t);
    }
    await cache.invalidate(cluster.name, [...tables], orgId);
  }

  /**
   * The primary's WAL position now, for a fence (not through admission:
   * one tiny statement after a write). Bounded: without an answer within
   * 250 ms there is no fence, which only delays caching of those scopes.
   */
  async currentLsn(clusterName: string): Promise<bigint | null> {
    const primary = this.deps.directory.named(clusterName).primary;
    // A primary known to be down is not asked (fills then store nothing).
    if (primary.health.verdict === "unhealthy") return null;
    const rows = await withTimeout(
      primary.query("SELECT pg_current_wal_lsn()::text AS lsn", []),
      FENCE_TIMEOUT_MS,
      primary.name,
    );
    const text = rows[0]?.lsn;
    return typeof text === "string" ? parseLsn(text) : null;
  }

  /** Counts a failure of the primary, asks for a check, and says `unavailable`. */
  private failure(cluster: NodeCluster, err: unknown): NodeUnavailableError {
    const node = cluster.primary;
    const error = describePgError(err);
    node.failures++;
    node.health.recordPassiveFailure(error);
    this.deps.health.checkSoon(cluster, node);
    return new NodeUnavailableError(
      node.name,
      `primary unavailable (${error})`,
      { cause: err },
    );
  }
}

function readOnlyPrimary(
  cluster: NodeCluster,
  err: unknown,
): NodeUnavailableError {
  return new NodeUnavailableError(
    cluster.primary.name,
    "the primary is read-only (in recovery or demoted)",
    { cause: err },
  );
}

/** Statements inside a transaction, on one checked-out primary connection. */
class TransactionConnection extends QueryApi {
  /** The distinct statement texts run, when the cache needs them to invalidate after COMMIT. */
  private readonly texts = new Set<string>();

  get statements(): readonly string[] {
    return [...this.texts];
  }

  constructor(
    private readonly client: PgClient,
    private readonly record: boolean,
  ) {
    super();
  }

  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.record) this.texts.add(sql);
    return (await this.client.query(sql, params)).rows;
  }
}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { Logger } from "../support/logger";
import type { NodeCluster } from "../nodes/node_cluster";
import type { PgClient, PgPool } from "../nodes/pg_pool";

/** The whole check: one function call, no table, nothing to plan. */
const ROLE_SQL = "SELECT pg_is_in_recovery() AS in_recovery";

/** Options of {@link RoleWatch}. */
export interface RoleWatchOptions {
  /**
   * Bound of one check (connection checkout plus query), ms. A check that
   * has not answered by then counts as inconclusive; its connection is
   * destroyed so a frozen server cannot hold it.
   */
  readonly timeoutMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * Called after a replica was taken out of rotation, so the regular health
   * probe confirms the verdict (the router passes `HealthChecker.checkSoon`).
   */
  readonly onPromoted?: (cluster: NodeCluster, node: DbNode) => void;
}

/**
 * Notices at once that a replica has left recovery (promoted by
 * `pg_ctl promote`, `pg_promote()`, a failover tool): from then on it
 * accepts writes the primary never sees, so every read it serves may return
 * divergent data.
 *
 * Every tick it asks each serving-eligible replica `SELECT
 * pg_is_in_recovery()` on a connection of its own, at most one check per node
 * in flight (a frozen node never piles up checks, and never delays another
 * node's). An answer of `false` takes the node out of the serving set
 * synchronously (health verdict `not_a_replica`, cluster refreshed), abandons
 * the reads outstanding on it so their callers retry elsewhere, logs, and
 * asks the regular probe to confirm. An answer of true or false also notes
 * that the node answered, and how fast (`DbNode.reached`), which the stall
 * watch takes as a peer's evidence, never as an answer to the node's own
 * reads. An error or a timeout changes nothing: liveness is the health
 * checker's and the stall watch's job.
 */
export class RoleWatch {
  /** Nodes with a check whose connection is not yet back (or destroyed). */
  private readonly inFlight = new Set<DbNode>();
  private started = 0;

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: RoleWatchOptions,
  ) {}

  /**
   * Starts a check of every replica that may serve reads now and has none in
   * flight; returns at once (never awaits a node). Call it every
   * `REPLICA_ROLE_CHECK_INTERVAL`.
   */
  tick(): void {
    for (const cluster of this.clusters()) {
      for (const node of cluster.replicas) {
        // Only a replica whose last probe said "healthy" can be serving: an
        // unknown or unhealthy one serves nothing, and the probe that would
        // make it healthy checks pg_is_in_recovery() itself.
        if (
          node.disabled ||
          node.health.verdict !== "healthy" ||
          this.inFlight.has(node)
        )
          continue;
        this.check(cluster, node);
      }
    }
  }

  /** Role checks started since construction (cost accounting). */
  get checksStarted(): number {
    return this.started;
  }

  /** Number of nodes with a check in flight. */
  get checksInFlight(): number {
    return this.inFlight.size;
  }

  private check(cluster: NodeCluster, node: DbNode): void {
    this.inFlight.add(node);
    this.started++;
    const startedAtMs = this.options.clock.now();
    const run = runRoleCheck(node.pool, this.options.timeoutMs, node.name);
    // The node counts as busy until its connection is back, not merely until
    // the timeout: a checkout stuck on a frozen server stays the only one.
    void run.settled.then(() => this.inFlight.delete(node));
    run.inRecovery.then(
      (inRecovery) => {
        // Evidence for the stall watch that this node (and so the network
        // and machine it shares with its peers) answers now, and how fast,
        // also while no read goes there; not an answer to its reads.
        node.reached(this.options.clock.now() - startedAtMs);
        if (inRecovery === false) this.takeOut(cluster, node, startedAtMs);
      },
      () => undefined,
    );
  }

  private takeOut(
    cluster: NodeCluster,
    node: DbNode,
    startedAtMs: number,
  ): void {
    // Removed, or already known, while the check ran.
    if (node.disabled || node.health.verdict === "not_a_replica") return;
    node.health.recordProbe({ ok: true, inRecovery: false }, null);
    cluster.refresh();
    // Reads still running there may already see the promoted node's own
    // writes: give them up so their callers retry on a node that is still a
    // replica (or the primary). Destroying the connections is fine: the node
    // serves no more reads.
    const abandoned = node.outstandingAttempts();
    for (const a of abandoned) a.abort("stalled");
    this.options.logger.warn(
      "replica is no longer in recovery (promoted?): taken out of rotation at once",
      {
        node: node.name,
        abandonedReads: abandoned.length,
        checkMs: Math.round(this.options.clock.now() - startedAtMs),
      },
    );
    this.options.onPromoted?.(cluster, node);
  }
}

/** One role check under way. */
interface RoleCheckRun {
  /** `pg_is_in_recovery()`; rejects on an error, a timeout or a malformed answer. */
  readonly inRecovery: Promise<boolean>;
  /** Settles once the connection is back in the pool or destroyed (never rejects). */
  readonly settled: Promise<void>;
}

/**
 * Checks out a connection and asks `pg_is_in_recovery()`, the whole check
 * bounded by `timeoutMs`. On the timeout a connection running the query is
 * destroyed (so the check settles at once); a checkout still pending is left
 * to pg's own connection timeout and its connection released unused.
 */
function runRoleCheck(
  pool: PgPool,
  timeoutMs: number,
  what: string,
): RoleCheckRun {
  let client: PgClient | null = null;
  let released = false;
  let expired = false;
  const release = (destroy?: Error): void => {
    if (released || client === null) return;
    released = true;
    client.release(destroy);
    if (destroy === undefined) client.off?.("error", ignoreConnectionError);
  };
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      const err = Object.assign(
        new Error(`${what}: role check timed out after ${timeoutMs} ms`),
        { code: "ETIMEDOUT" },
      );
      release(err);
      reject(err);
    }, timeoutMs);
    timer.unref?.();
  });
  const work = (async (): Promise<boolean> => {
    client = await pool.connect();
    if (expired) {
      // Too late to matter; it never ran anything, so it is fine to reuse.
      release();
      throw new Error(
        `${what}: connection arrived after the role check gave up`,
      );
    }
    client.on?.("error", ignoreConnectionError);
    try {
      const { rows } = await client.query(ROLE_SQL);
      release();
      const value = rows[0]?.in_recovery;
      if (typeof value !== "boolean")
        throw new Error(`${what}: pg_is_in_recovery() returned no boolean`);
      return value;
    } catch (err) {
      release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  })();
  const inRecovery = Promise.race([work, expiry]).finally(() =>
    clearTimeout(timer),
  );
  // Both are observed, so neither a late failure nor the expiry goes unhandled.
  expiry.catch(() => undefined);
  return { inRecovery, settled: work.then(noop, noop) };
}

function noop(): void {}

// Errors of the connection surface through the query; the listener only keeps
// an 'error' event of a dying connection from being unhandled.
function ignoreConnectionError(): void {}

import { systemClock, type Clock } from "./support/clock";
import {
  MAIN_CLUSTER,
  type ClusterConfig,
  type RouterConfig,
} from "./config/config";
import type {
  DatabaseRouter,
  ReadConnection,
  ReadOptions,
  WriteConnection,
} from "./connections";
import {
  EVENTUAL,
  formatToken,
  type Consistency,
} from "./consistency/consistency";
import { DbNode, type NodeOptions } from "./nodes/db_node";
import {
  InvalidArgumentError,
  NodeUnavailableError,
  NotFoundError,
  OverloadedError,
  RouterClosedError,
} from "./errors";
import { HealthChecker } from "./health/health_checker";
import { HedgeBudget } from "./reads/hedge_budget";
import { HedgedReader } from "./reads/hedged_read";
import { parseLsn } from "./lag/lag_tracker";
import { LagMonitor } from "./lag/lag_monitor";
import { jsonLogger, type Logger } from "./support/logger";
import { NodeCluster, type LagBound } from "./nodes/node_cluster";
import { OrgRanges } from "./fleet/org_ranges";
import { classifyPgError, describePgError } from "./nodes/pg_errors";
import {
  createPgPool,
  describeAddress,
  probeConnection,
  type PgClient,
  type PoolFactory,
} from "./nodes/pg_pool";
import type { QueryApi, Row } from "./query_api";
import {
  ClientConnection,
  PrimaryConnection,
  RoutedReadConnection,
} from "./routed_connections";
import { ReadPlanner, type Choice, type RouteReason } from "./read_planner";
import {
  currentRequestContext,
  noteServedBy,
  type RequestContext,
} from "./request_context";
import { createSelector } from "./selection/selectors";
import { ConcurrencyCaps } from "./limits/concurrency_caps";
import { RawSqlGate } from "./sql/raw_sql_gate";
import { RoleWatch } from "./health/role_watch";
import { StallWatch } from "./health/stall_watch";
import { VolatileFunctionCatalog } from "./sql/volatile_functions";

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

/** Injected dependencies; all optional. */
export interface RouterDeps {
  clock?: Clock;
  poolFactory?: PoolFactory;
  logger?: Logger;
  observer?: RouterObserver;
  /**
   * Liveness probe on a connection of its own, for the stall watch. Default:
   * {@link probeConnection} when the default pool factory is used; with an
   * injected factory (fakes in tests) the node's pool is probed instead,
   * unless a probe is given too.
   */
  probe?: (
    url: string,
    applicationName: string,
    timeoutMs: number,
  ) => Promise<void>;
}

const MAX_READ_ATTEMPTS = 3;
/** Hedges that may be sent back to back before the budget has to refill. */
const HEDGE_BURST = 20;

/**
 * Sends writes to the primary and reads to streaming replicas, per org
 * cluster. Owns one `pg` pool per node, checks health on a timer and on every
 * connection failure, keeps a circuit breaker and lag reading per replica,
 * and retries a read that failed for a node's fault on another node.
 */
export class ReplicaRouter implements DatabaseRouter {
  readonly clusters: NodeCluster[];
  readonly health: HealthChecker;
  readonly lagMonitor: LagMonitor;
  /** Decides whether raw SQL may go to a replica (classifier + VOLATILE functions). */
  readonly rawSql: RawSqlGate;
  readonly planner: ReadPlanner;
  readonly caps: ConcurrencyCaps;
  /** Replica reads with hedging; finds nothing to do when hedging is off. */
  readonly hedged: HedgedReader;
  /** Finds replicas that stopped answering without failing. */
  readonly stallWatch: StallWatch;
  /** Takes a replica that left recovery (promoted) out of rotation within a role-check interval. */
  readonly roleWatch: RoleWatch;
  readonly clock: Clock;
  readonly logger: Logger;
  private readonly byName = new Map<string, NodeCluster>();
  private readonly ranges: OrgRanges<NodeCluster>;
  private readonly main: NodeCluster;
  private readonly poolFactory: PoolFactory;
  private readonly probe: RouterDeps["probe"];
  private readonly nodeOptions: NodeOptions;
  private readonly observer: RouterObserver;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private readonly addingNames = new Set<string>();
  private started: Promise<void> | null = null;
  private closed: Promise<void> | null = null;
  private nextReplicaNumber = new Map<string, number>();

  constructor(
    readonly config: RouterConfig,
    deps: RouterDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger ?? jsonLogger;
    this.poolFactory = deps.poolFactory ?? createPgPool;
    this.probe =
      deps.probe ??
      (deps.poolFactory === undefined ? probeConnection : undefined);
    this.observer = deps.observer ?? {};
    this.nodeOptions = {
      clock: this.clock,
      failureThreshold: config.failureThreshold,
      breakerOpenDurationMs: config.breakerOpenDurationMs,
      breakerSuccessThreshold: config.breakerSuccessThreshold,
      lagThresholds: {
        warningSeconds: config.lagWarningSeconds,
        criticalSeconds: config.lagCriticalSeconds,
      },
      maxConnections: config.pool.maxConnections,
      queueMax: config.pool.queueMax,
      queueTimeoutMs: config.pool.queueTimeoutMs,
    };
    this.clusters = config.clusters.map((c) => this.buildCluster(c));
    for (const c of this.clusters) this.byName.set(c.name, c);
    this.main = this.clusters[0]!;
    this.ranges = new OrgRanges(config.orgRanges, (name) =>
      this.byName.get(name)!,
    );
    const timeoutMs = Math.min(5_000, config.pool.connectionTimeoutMs);
    this.health = new HealthChecker(() => this.clusters, {
      timeoutMs,
      clock: this.clock,
      logger: this.logger,
    });
    this.lagMonitor = new LagMonitor(() => this.clusters, {
      timeoutMs,
      clock: this.clock,
      onNotInRecovery: (cluster, node) => this.health.checkSoon(cluster, node),
    });
    this.rawSql = new RawSqlGate(
      new VolatileFunctionCatalog({
        clock: this.clock,
        readOnlyFunctions: config.readOnlyFunctions,
      }),
      // pg_proc is replicated: any healthy replica can answer when the primary cannot.
      () => [
        this.main.primary,
        ...this.main.replicas.filter((n) => n.health.verdict === "healthy"),
      ],
      { timeoutMs, clock: this.clock, logger: this.logger },
    );
    this.planner = new ReadPlanner(config);
    this.hedged = new HedgedReader(
      new HedgeBudget(config.hedge.maxExtraLoad, HEDGE_BURST),
      this.planner,
      { ...config.hedge, clock: this.clock },
    );
    this.stallWatch = new StallWatch(() => this.clusters, {
      ...config.attemptDeadline,
      clock: this.clock,
      logger: this.logger,
    });
    this.roleWatch = new RoleWatch(() => this.clusters, {
      timeoutMs: config.attemptDeadline.maxMs,
      clock: this.clock,
      logger: this.logger,
      onPromoted: (cluster, node) => this.health.checkSoon(cluster, node),
    });
    this.caps = new ConcurrencyCaps({
      perUser: config.maxConcurrentQueriesPerUser,
      perOrg: config.maxConcurrentQueriesPerOrg,
      waitMs: config.capWaitMs,
    });
  }

  /**
   * Checks every node once, samples lag, loads the catalog of volatile
   * functions, then starts the health and lag timers. Idempotent. Never
   * throws for an unreachable node: the status endpoint says what is wrong.
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.health.checkAll();
      await Promise.all([this.lagMonitor.sampleAll(), this.rawSql.refresh()]);
      this.every(this.config.healthCheckIntervalMs, async () => {
        await this.health.checkAll();
        if (this.rawSql.catalog.isStale()) await this.rawSql.refresh();
      });
      this.every(this.config.lagPollIntervalMs, () =>
        this.lagMonitor.sampleAll(),
      );
      this.every(Math.max(5, this.config.attemptDeadline.minMs / 2), async () =>
        this.stallWatch.tick(),
      );
      this.every(this.config.roleCheckIntervalMs, async () =>
        this.roleWatch.tick(),
      );
      this.logClusterStates("started");
    })();
    return this.started;
  }

  /** Stops the timers and closes every pool. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      for (const t of this.wakeTimers) clearTimeout(t);
      await Promise.allSettled(
        this.clusters.flatMap((c) => c.nodes.map((n) => n.pool.end())),
      );
    })();
    return this.closed;
  }

  /** The cluster holding `orgId` (the main cluster when undefined). */
  clusterOf(orgId: number | undefined): NodeCluster {
    return orgId === undefined ? this.main : this.ranges.lookup(orgId);
  }

  /** A cluster by name. @throws {NotFoundError} */
  clusterNamed(name: string): NodeCluster {
    const c = this.byName.get(name);
    if (c === undefined) throw new NotFoundError(`no cluster named "${name}"`);
    return c;
  }

  /** @inheritdoc */
  getReadConnection(options: ReadOptions = {}): ReadConnection {
    const ctx = currentRequestContext();
    return new RoutedReadConnection(
      this,
      options.orgId,
      this.clusterOf(options.orgId),
      options.consistency ?? ctx?.consistency ?? EVENTUAL,
      options.endpoint ?? ctx?.endpoint ?? "",
      ctx,
    );
  }

  /** @inheritdoc */
  getWriteConnection(orgId?: number): WriteConnection {
    return new PrimaryConnection(
      this,
      orgId,
      this.clusterOf(orgId),
      currentRequestContext(),
    );
  }

  /**
   * Runs raw SQL, sending it to a replica only when the classifier proves it
   * read-only; everything else goes to the primary.
   */
  query<T extends Row = Row>(sql: string, ...params: unknown[]): Promise<T[]> {
    return this.getReadConnection().rawQueryAll<T>(sql, ...(params as never[]));
  }

  /** @inheritdoc */
  async transaction<T>(
    orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    const cluster = this.clusterOf(orgId);
    const ctx = currentRequestContext();
    const release = this.caps.enabled
      ? await this.caps.acquire(ctx?.userId, orgId)
      : undefined;
    try {
      const admission = cluster.primary.admission;
      const wait = admission.acquire();
      if (wait !== undefined) await wait;
      try {
        return await this.runTransaction(cluster, ctx, fn);
      } finally {
        admission.release();
      }
    } finally {
      release?.();
    }
  }

  private async runTransaction<T>(
    cluster: NodeCluster,
    ctx: RequestContext | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    const primary = cluster.primary;
    let client: PgClient;
    try {
      client = await primary.pool.connect();
    } catch (err) {
      throw this.primaryFailure(cluster, err);
    }
    let broken: Error | undefined;
    try {
      await client.query("BEGIN");
      const result = await fn(new ClientConnection(client));
      await client.query("COMMIT");
      if (ctx !== undefined) ctx.wroteCluster = cluster.name;
      noteServedBy(ctx, primary.name);
      return result;
    } catch (err) {
      const kind = classifyPgError(err);
      if (kind === "node") {
        broken = err instanceof Error ? err : new Error(String(err));
        throw this.primaryFailure(cluster, err);
      }
      if (kind === "read_only") {
        await client.query("ROLLBACK").catch(() => undefined);
        throw new NodeUnavailableError(
          primary.name,
          "the primary is read-only (in recovery or demoted)",
          { cause: err },
        );
      }
      await client.query("ROLLBACK").catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }

  /** The primary's current WAL position in `cluster`, as a consistency token. */
  async consistencyToken(clusterName: string): Promise<string> {
    const cluster = this.clusterNamed(clusterName);
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
      throw classifyPgError(err) === "node"
        ? this.primaryFailure(cluster, err)
        : err;
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
      this.logger.warn(
        "could not read the primary's WAL position after a write; no consistency token sent",
        {
          cluster: clusterName,
          error: describePgError(err),
        },
      );
      return null;
    }
  }

  /** Runs a read: routed, retried on another node if the first fails for the node's fault. */
  async read(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    ctx: RequestContext | undefined,
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<{ rows: Row[]; node: DbNode }> {
    if (this.closed !== null) throw new RouterClosedError();
    if (raw && !this.rawSql.provablyReadOnly(sql)) {
      // Possibly a write: the request gets a token, so a later read can see it.
      if (ctx !== undefined) ctx.wroteCluster = cluster.name;
      return {
        rows: await this.onPrimary(cluster, sql, params, ctx, "read", endpoint),
        node: cluster.primary,
      };
    }
    let tried: DbNode[] | undefined;
    let overloaded: OverloadedError | undefined;
    for (let attempt = 1; ; attempt++) {
      let choice: Choice | Promise<Choice> =
        attempt === MAX_READ_ATTEMPTS
          ? { node: cluster.primary, reason: "retry" }
          : this.planner.choose(cluster, consistency, endpoint, tried);
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
      if (
        this.planner.serviceZone !== null &&
        node.role === "replica" &&
        this.observer.onZoneRead !== undefined
      ) {
        const why = this.planner.spillReason(cluster, node);
        this.observer.onZoneRead(
          node,
          why === null ? "local" : "spill",
          why ?? "",
        );
      }
      // Replicas too busy is not a reason to load the primary with their
      // reads (its slots are for writes and strong reads): answer 503.
      if (node.role === "primary" && overloaded !== undefined) throw overloaded;
      node.reads++;
      this.observer.onRoute?.(node, endpoint, reason);
      if (node.role === "primary") {
        return {
          rows: await this.onPrimary(
            cluster,
            sql,
            params,
            ctx,
            "read",
            endpoint,
          ),
          node,
        };
      }
      const result = await this.hedged.read(
        { cluster, consistency, endpoint, tried },
        node,
        sql,
        params,
      );
      if (result.hedgedTo !== null) {
        result.hedgedTo.reads++;
        this.observer.onRoute?.(result.hedgedTo, endpoint, "hedge");
        if (this.planner.serviceZone !== null) {
          const why = this.planner.spillReason(cluster, result.hedgedTo);
          this.observer.onZoneRead?.(
            result.hedgedTo,
            why === null ? "local" : "spill",
            why ?? "",
          );
        }
      }
      let callerError: unknown;
      let refused: (typeof result.failures)[number] | undefined;
      for (const f of result.failures) {
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
          this.observer.onReadFailed?.(f.node, endpoint, "retried");
        } else {
          f.node.breaker!.release();
          if (kind === "stalled")
            this.observer.onReadFailed?.(f.node, endpoint, "retried");
        }
        if (kind === "caller") callerError ??= f.error;
        else if (kind === "read_only") refused ??= f;
        else if (kind === "overloaded") {
          overloaded ??= f.error as OverloadedError;
          (tried ??= []).push(f.node);
        }
        // A node that stalled or failed is not tried again for this read.
        else if (kind !== "lost") (tried ??= []).push(f.node);
      }
      if (result.rows !== null) {
        result.node.breaker!.recordSuccess();
        this.observer.onQuery?.(result.node, "read", result.seconds);
        noteServedBy(ctx, result.node.name);
        return { rows: result.rows, node: result.node };
      }
      if (callerError !== undefined) throw callerError;
      if (refused !== undefined) {
        // A standby refused work only the primary can do, unseen by the gate
        // (a view calling a writing function, an unlogged table, a temporary
        // schema...). The gate sends this text to the primary from now on.
        const { shape, firstOfShape } = this.rawSql.noteRefusal(
          sql,
          refused.error,
        );
        if (firstOfShape) {
          this.logger.warn(
            "classifier miss: a replica refused a statement as a write; retried on the primary (logged once per statement shape)",
            {
              node: refused.node.name,
              endpoint,
              error: describePgError(refused.error),
              shape,
            },
          );
        }
        cluster.primary.reads++;
        this.observer.onRoute?.(cluster.primary, endpoint, "retry");
        // It was a write after all: the request gets a token for it.
        if (ctx !== undefined) ctx.wroteCluster = cluster.name;
        return {
          rows: await this.onPrimary(
            cluster,
            sql,
            params,
            ctx,
            "read",
            endpoint,
          ),
          node: cluster.primary,
        };
      }
      // Every attempt failed for a node's fault: plan again without those nodes.
    }
  }

  /**
   * Runs one statement on the primary of `cluster`; a node-level failure
   * becomes `unavailable` (and, for `kind` "read", a failed read of
   * `endpoint` for the observer).
   */
  async onPrimary(
    cluster: NodeCluster,
    sql: string,
    params: unknown[],
    ctx: RequestContext | undefined,
    kind: "read" | "write" = "write",
    endpoint = "",
  ): Promise<Row[]> {
    if (this.closed !== null) throw new RouterClosedError();
    const node = cluster.primary;
    const t0 = this.observer.onQuery === undefined ? 0 : performance.now();
    try {
      const rows = await node.runAdmitted(sql, params);
      if (t0 !== 0)
        this.observer.onQuery!(node, kind, (performance.now() - t0) / 1000);
      noteServedBy(ctx, node.name);
      return rows;
    } catch (err) {
      const fault = classifyPgError(err);
      if (fault === "node") {
        if (kind === "read")
          this.observer.onReadFailed?.(node, endpoint, "failed");
        throw this.primaryFailure(cluster, err);
      }
      // The "primary" refuses writes: it was demoted or is in recovery. Not the
      // caller's fault, and not fixable by retrying here: unavailable.
      if (fault === "read_only") {
        throw new NodeUnavailableError(
          node.name,
          "the primary is read-only (in recovery or demoted)",
          { cause: err },
        );
      }
      throw err;
    }
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
    this.logger.warn("replica query failed; retrying elsewhere", {
      node: node.name,
      error,
    });
    this.health.checkSoon(cluster, node);
  }

  private primaryFailure(
    cluster: NodeCluster,
    err: unknown,
  ): NodeUnavailableError {
    const node = cluster.primary;
    const error = describePgError(err);
    node.failures++;
    node.health.recordPassiveFailure(error);
    this.health.checkSoon(cluster, node);
    return new NodeUnavailableError(
      node.name,
      `primary unavailable (${error})`,
      { cause: err },
    );
  }

  // --- run-time changes (admin API) -------------------------------------------------

  /**
   * Adds a replica to `clusterName` (default main). It serves only after a
   * probe shows it is in recovery and a replica of this cluster's primary.
   *
   * @throws {InvalidArgumentError} when it is unreachable or not a replica of this primary.
   */
  async addReplica(
    url: string,
    options: {
      cluster?: string;
      name?: string;
      weight?: number;
      /** Zone of the new replica; null/absent = unknown. */
      zone?: string | null;
    } = {},
  ): Promise<DbNode> {
    if (this.closed !== null) throw new RouterClosedError();
    const cluster = this.clusterNamed(options.cluster ?? this.main.name);
    const name = options.name ?? this.newReplicaName(cluster);
    if (!/^[a-z][a-z0-9_]{0,62}$/.test(name))
      throw new InvalidArgumentError(
        "name",
        "lower-case letters, digits and _",
      );
    const label = this.nodeLabel(cluster.name, name);
    if (
      cluster.nodes.some((n) => n.name === label) ||
      this.addingNames.has(label)
    )
      throw new InvalidArgumentError("name", `"${label}" already exists`);
    // Reserved across the probe's await, so two concurrent adds cannot both pass.
    this.addingNames.add(label);
    try {
      return await this.verifyAndAdd(
        cluster,
        name,
        url,
        options.weight ?? 1,
        options.zone ?? null,
      );
    } finally {
      this.addingNames.delete(label);
    }
  }

  private async verifyAndAdd(
    cluster: NodeCluster,
    name: string,
    url: string,
    weight: number,
    zone: string | null,
  ): Promise<DbNode> {
    const node = this.buildNode(cluster.name, name, "replica", url, weight);
    node.zone = zone;
    await this.health.checkNode(cluster, node);
    const snap = node.health.snapshot;
    if (snap.verdict !== "healthy" || this.closed !== null) {
      await node.pool.end().catch(() => undefined);
      if (this.closed !== null) throw new RouterClosedError();
      throw new InvalidArgumentError(
        "connectionString",
        snap.verdict === "not_a_replica"
          ? (snap.lastError ?? "not a replica of this primary")
          : `unreachable: ${snap.lastError ?? "probe failed"}`,
      );
    }
    cluster.replicas = [...cluster.replicas, node];
    await this.lagMonitor.sampleAll();
    cluster.refresh();
    return node;
  }

  /**
   * Takes a replica out of rotation at once, lets statements in flight finish
   * (up to `drainMs`), then closes its pool.
   */
  async removeReplica(
    name: string,
    options: { cluster?: string; drainMs?: number } = {},
  ): Promise<void> {
    const cluster = this.clusterNamed(options.cluster ?? this.main.name);
    const node = this.replicaNamed(cluster, name);
    node.disabled = true;
    cluster.replicas = cluster.replicas.filter((n) => n !== node);
    cluster.refresh();
    // Wall time, not the injected clock: this really waits.
    const deadline = Date.now() + (options.drainMs ?? 10_000);
    while (node.inFlight > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    await node.pool.end();
  }

  /** A replica of `cluster` by name. @throws {NotFoundError} */
  replicaNamed(cluster: NodeCluster, name: string): DbNode {
    const label = this.nodeLabel(cluster.name, name);
    const node = cluster.replicas.find(
      (n) => n.name === name || n.name === label,
    );
    if (node === undefined)
      throw new NotFoundError(
        `no replica named "${name}" in cluster "${cluster.name}"`,
      );
    return node;
  }

  // --- construction ------------------------------------------------------------------

  private buildCluster(c: ClusterConfig): NodeCluster {
    const primary = this.buildNode(
      c.name,
      "primary",
      "primary",
      c.primaryUrl,
      1,
    );
    primary.zone = c.primaryZone ?? null;
    const replicas = c.replicas.map((r) => {
      const node = this.buildNode(c.name, r.name, "replica", r.url, r.weight);
      node.zone = r.zone ?? null;
      return node;
    });
    this.nextReplicaNumber.set(c.name, replicas.length + 1);
    const bound: LagBound = {
      ...(this.config.maxLagSeconds !== null
        ? { maxLagSeconds: this.config.maxLagSeconds }
        : {}),
      ...(this.config.maxLagBytes !== null
        ? { maxLagBytes: this.config.maxLagBytes }
        : {}),
    };
    const cluster = new NodeCluster(
      c.name,
      primary,
      replicas,
      createSelector(this.config.strategy),
      bound,
    );
    return cluster;
  }

  private buildNode(
    cluster: string,
    name: string,
    role: "primary" | "replica",
    url: string,
    weight: number,
  ): DbNode {
    const label = this.nodeLabel(cluster, name);
    const pool = this.poolFactory(
      url,
      this.config.pool,
      `${this.config.pool.applicationName}:${label}`,
    );
    const probeName = `${this.config.pool.applicationName}:${label}:probe`;
    const node = new DbNode(
      label,
      cluster,
      role,
      describeAddress(url),
      pool,
      weight,
      this.nodeOptions,
      this.probe === undefined
        ? undefined
        : (timeoutMs) => this.probe!(url, probeName, timeoutMs),
    );
    pool.on("error", (err) => {
      // An idle client died (server restart, network). Count it like a failed query.
      const error = describePgError(err);
      node.health.recordPassiveFailure(error);
      node.breaker?.recordFailure(error);
      this.byName.get(cluster)?.refresh();
    });
    node.breaker?.onStateChange((t) => {
      const owner = this.byName.get(cluster);
      owner?.refresh();
      // The open period is over: probe now, so a restarted replica serves again
      // after the open duration plus one check, not a whole health interval.
      if (t.to === "half_open" && owner !== undefined)
        this.health.checkSoon(owner, node);
      // The half-open step is taken lazily when the state is read; wake up
      // when the open period ends so it is not left to the next lag poll.
      const state = node.breaker!.state;
      if (state.name === "open" && !state.manual && this.closed === null) {
        const wake = setTimeout(
          () => {
            this.wakeTimers.delete(wake);
            this.byName.get(cluster)?.refresh();
          },
          Math.max(0, state.reopensAtMs - this.clock.now()) + 1,
        );
        wake.unref();
        this.wakeTimers.add(wake);
      }
      this.logger.warn("circuit breaker state changed", {
        node: t.node,
        from: t.from,
        to: t.to,
        reason: t.reason,
      });
    });
    node.health.onChange((e) => {
      const fields = { node: e.node, from: e.from, to: e.to, reason: e.reason };
      if (e.to === "healthy") this.logger.info("node health changed", fields);
      else this.logger.warn("node health changed", fields);
    });
    return node;
  }

  /** Nodes of the main cluster keep their name; others are `<cluster>.<name>`. */
  private nodeLabel(cluster: string, name: string): string {
    return cluster === MAIN_CLUSTER ? name : `${cluster}.${name}`;
  }

  private newReplicaName(cluster: NodeCluster): string {
    let n = this.nextReplicaNumber.get(cluster.name) ?? 1;
    while (
      cluster.replicas.some(
        (r) =>
          r.name === `replica_${n}` ||
          r.name === `${cluster.name}.replica_${n}`,
      )
    )
      n++;
    this.nextReplicaNumber.set(cluster.name, n + 1);
    return `replica_${n}`;
  }

  private every(ms: number, task: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.closed !== null) return;
      running = true;
      task()
        .catch((err: unknown) =>
          this.logger.error("background task failed", {
            error: describePgError(err),
          }),
        )
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  private logClusterStates(event: string): void {
    for (const c of this.clusters) {
      this.logger.info(`replica router ${event}`, {
        cluster: c.name,
        nodes: c.nodes.map((n) => ({
          name: n.name,
          address: n.address,
          state: n.state({}),
        })),
      });
    }
  }
}

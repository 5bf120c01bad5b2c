import { CallerPrimaryReads } from "./limits/caller_primary_reads";
import type { JsonSafe } from "./cache/cache_entry";
import { createQueryCache } from "./cache/create_query_cache";
import type { CachedRead } from "./cache/cache_types";
import type { QueryCache } from "./cache/query_cache";
import type { ClusterConfig, RouterConfig } from "./config/config";
import type {
  DatabaseRouter,
  ReadConnection,
  ReadOptions,
  WriteConnection,
} from "./connections";
import { ReadDefaults } from "./consistency/read_defaults";
import { ClusterDirectory } from "./topology/cluster_directory";
import { FleetMembership, type AddReplicaOptions } from "./topology/membership";
import { NodeFactory } from "./topology/node_factory";
import type { HealthChecker } from "./health/health_checker";
import type { RoleWatch } from "./health/role_watch";
import type { StallWatch } from "./health/stall_watch";
import type { LagMonitor } from "./lag/lag_monitor";
import { ConcurrencyCaps } from "./limits/concurrency_caps";
import type { DbNode } from "./nodes/db_node";
import type { ReplicaNode } from "./nodes/replica_node";
import type { NodeCluster } from "./nodes/node_cluster";
import { createPgPool, probeConnection } from "./nodes/pg_pool";
import { PrimaryExecutor } from "./primary/primary_executor";
import type { QueryApi, Row } from "./base/query_api";
import { ReadPlanner } from "./read_planner";
import { HedgeBudget } from "./reads/hedge_budget";
import { HedgedReader } from "./reads/hedged_read";
import { ReadExecutor } from "./reads/read_executor";
import {
  currentRequestContext,
  noteServedBy,
  type RequestContext,
} from "./base/request_context";
import {
  PrimaryConnection,
  RoutedReadConnection,
  type ReadRequest,
  type ReadResult,
  type StatementPaths,
} from "./routed_connections";
import { RawSqlGate } from "./sql/raw_sql_gate";
import { VolatileFunctionCatalog } from "./sql/volatile_functions";
import { systemClock, type Clock } from "./support/clock";
import { silentLogger, type Logger } from "./support/logger";
import type { RouterDeps } from "./router_deps";
import { Watchers } from "./watchers";
import type { RouterRoles } from "./roles";
import { routerRoles } from "./router_roles";
import type { LoopDelayFigures } from "./support/event_loop_delay";

/** Hedges that may be sent back to back before the budget has to refill. */
const HEDGE_BURST = 20;

/**
 * Sends writes to the primary and reads to streaming replicas, per org
 * cluster. Composes the collaborators that do the work: a
 * {@link ReadExecutor} (planned, hedged, retried reads), a
 * {@link PrimaryExecutor} (writes, transactions, tokens), the
 * {@link FleetMembership} (replicas added and removed at run time), and the
 * watchers on their timers (health, lag, stalls, promotions).
 */
export class ReplicaRouter implements DatabaseRouter, StatementPaths {
  readonly clusters: NodeCluster[];
  readonly health: HealthChecker;
  readonly lagMonitor: LagMonitor;
  /** Decides whether raw SQL may go to a replica (classifier + VOLATILE functions). */
  readonly rawSql: RawSqlGate;
  readonly planner: ReadPlanner;
  /** The consistency of a read that names none (DEFAULT_READ_CONSISTENCY, per endpoint). */
  readonly readDefaults: ReadDefaults;
  readonly caps: ConcurrencyCaps;
  /** Replica reads with hedging; finds nothing to do when hedging is off. */
  readonly hedged: HedgedReader;
  /** Finds replicas that stopped answering without failing. */
  readonly stallWatch: StallWatch;
  /** Takes a replica that left recovery (promoted) out of rotation within a role-check interval. */
  readonly roleWatch: RoleWatch;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The query-result cache (docs/cache.md). */
  readonly cache: QueryCache;
  /** The router as monitoring, admin and fleet control use it (roles.ts). */
  readonly roles: RouterRoles;
  private readonly directory: ClusterDirectory;
  private readonly factory: NodeFactory;
  private readonly reads: ReadExecutor;
  private readonly primary: PrimaryExecutor;
  private readonly fleet: FleetMembership;
  private readonly watchers: Watchers;
  private started: Promise<void> | null = null;
  private closed: Promise<void> | null = null;

  constructor(
    readonly config: RouterConfig,
    deps: RouterDeps = {},
  ) {
    this.clock = deps.clock ?? systemClock;
    // A library logs nothing unless told where: the service passes its JSON logger.
    this.logger = deps.logger ?? silentLogger;
    const observer = deps.observer ?? {};
    const isClosed = (): boolean => this.closed !== null;
    this.factory = new NodeFactory({
      config,
      poolFactory: deps.poolFactory ?? createPgPool,
      probe:
        deps.probe ??
        (deps.poolFactory === undefined ? probeConnection : undefined),
      clock: this.clock,
      logger: this.logger,
      // Called from node events; before the directory exists (during
      // construction) there is no cluster to refresh yet.
      findCluster: (name) =>
        (this.directory as ClusterDirectory | undefined)?.find(name),
      checkSoon: (cluster, node) => this.health.checkSoon(cluster, node),
    });
    this.clusters = config.clusters.map((c: ClusterConfig) =>
      this.factory.buildCluster(c),
    );
    this.directory = new ClusterDirectory(this.clusters, config.orgRanges);
    this.watchers = new Watchers(() => this.clusters, config, {
      clock: this.clock,
      logger: this.logger,
    });
    this.health = this.watchers.health;
    this.lagMonitor = this.watchers.lagMonitor;
    this.stallWatch = this.watchers.stallWatch;
    this.roleWatch = this.watchers.roleWatch;
    const watched = { clock: this.clock, logger: this.logger };
    const timeoutMs = this.watchers.timeoutMs;
    const main = this.directory.main;
    this.rawSql = new RawSqlGate(
      new VolatileFunctionCatalog({
        clock: this.clock,
        readOnlyFunctions: config.readOnlyFunctions,
      }),
      // pg_proc is replicated: any healthy replica can answer when the primary cannot.
      () => [
        main.primary,
        ...main.replicas.filter((n) => n.health.verdict === "healthy"),
      ],
      { timeoutMs, ...watched },
    );
    this.planner = new ReadPlanner(config);
    this.readDefaults = ReadDefaults.of(config);
    this.hedged = new HedgedReader(
      new HedgeBudget(config.hedge.maxExtraLoad, HEDGE_BURST),
      this.planner,
      { ...config.hedge, clock: this.clock },
    );
    this.caps = new ConcurrencyCaps({
      perUser: config.maxConcurrentQueriesPerUser,
      perOrg: config.maxConcurrentQueriesPerOrg,
      waitMs: config.capWaitMs,
    });
    this.cache = createQueryCache(config.cache, {
      sharedStore: deps.sharedCache,
      clock: this.clock,
      logger: this.logger,
      observer: deps.cacheObserver ?? {},
      clusters: () => this.clusters.map((c) => c.name),
      currentLsn: (cluster) => this.primary.currentLsn(cluster),
    });
    const shared = {
      health: this.health,
      logger: this.logger,
      observer,
      isClosed,
    };
    this.primary = new PrimaryExecutor({
      ...shared,
      directory: this.directory,
      caps: this.caps,
      cache: this.cache,
      writeGate: this.rawSql,
      lastPrimaryLsn: (cluster) => this.lagMonitor.lastPrimaryLsn(cluster),
      clock: this.clock,
    });
    this.reads = new ReadExecutor({
      ...shared,
      planner: this.planner,
      hedged: this.hedged,
      rawSql: this.rawSql,
      primary: this.primary,
      refreshTimeoutMs: Math.min(50, config.attemptDeadline.minMs),
      callerPrimaryReads: CallerPrimaryReads.of(config),
    });
    this.fleet = new FleetMembership({
      directory: this.directory,
      factory: this.factory,
      health: this.health,
      lagMonitor: this.lagMonitor,
      hostAllowlist: config.replicaHostAllowlist,
      sslRootCert: config.replicaSslRootCert,
      logger: this.logger,
      isClosed,
    });
    this.roles = routerRoles(this);
  }

  /**
   * Checks every node once, samples lag, loads the catalog of volatile
   * functions, then starts the health and lag timers. Idempotent. Never
   * throws for an unreachable node: the status endpoint says what is wrong.
   */
  start(): Promise<void> {
    this.started ??= (async () => {
      await this.watchers.start(this.rawSql);
    })();
    return this.started;
  }

  /** Stops the timers and closes every pool. Idempotent. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.watchers.stop();
      this.hedged.close();
      this.factory.close();
      await this.cache.close();
      // Reads still running hold their pooled connection, and pool.end()
      // waits for every one: a hedge's loser on a slow replica would hold the
      // stop for up to the statement timeout. (After the HTTP drain, losers
      // are all that is left.) Abandoned like a stall: connection destroyed.
      for (const c of this.clusters)
        for (const n of c.nodes)
          for (const a of n.outstandingAttempts()) a.abort("stalled");
      await Promise.allSettled(
        this.clusters.flatMap((c) => c.nodes.map((n) => n.pool.end())),
      );
    })();
    return this.closed;
  }

  /** The cluster holding `orgId` (the main cluster when undefined). */
  clusterOf(orgId: number | undefined): NodeCluster {
    return this.directory.of(orgId);
  }

  /** A cluster by name. @throws {NotFoundError} */
  clusterNamed(name: string): NodeCluster {
    return this.directory.named(name);
  }

  /** @inheritdoc */
  getReadConnection(options: ReadOptions = {}): ReadConnection {
    const ctx = currentRequestContext();
    const endpoint = options.endpoint ?? ctx?.endpoint ?? "";
    return new RoutedReadConnection(
      this,
      options.orgId,
      this.clusterOf(options.orgId),
      options.consistency ??
        ctx?.consistency ??
        this.readDefaults.for(endpoint),
      endpoint,
      ctx,
    );
  }

  /** This process's event-loop delay over the last whole second (status pages). */
  eventLoopDelay(): LoopDelayFigures {
    return this.watchers.loop.figures();
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
  transaction<T>(
    orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    return this.primary.transaction(orgId, currentRequestContext(), fn);
  }

  /**
   * A consistency token for `clusterName` covering every write `ctx` (a
   * request) completed there: from the positions its writes brought when
   * it wants a token (no round trip), else the primary's position now.
   */
  consistencyToken(clusterName: string, ctx?: RequestContext): Promise<string> {
    return this.primary.consistencyToken(clusterName, ctx);
  }

  /**
   * The token after request `ctx` wrote to `clusterName`, or null (never
   * throws: the write committed). Without a round trip when its writes
   * brought their positions (`ctx.wantsToken`).
   */
  tokenAfterWrite(
    clusterName: string,
    ctx?: RequestContext,
  ): Promise<string | null> {
    return this.primary.tokenAfterWrite(clusterName, ctx);
  }

  /** Runs a read: routed, retried on another node if the first fails for the node's fault. */
  read(
    req: ReadRequest,
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<ReadResult> {
    return this.reads.read(req, sql, params, raw);
  }

  /** Runs a write on the primary of `cluster`; it invalidates what it changed in the cache. */
  onPrimary(
    cluster: NodeCluster,
    sql: string,
    params: unknown[],
    ctx: RequestContext | undefined,
    orgId: number | undefined,
  ): Promise<Row[]> {
    return this.primary.run(cluster, sql, params, ctx, {
      kind: "write",
      orgId,
    });
  }

  /**
   * A read through the query cache: the cached value when the read's
   * consistency accepts it, else `fn`'s result on a routed read connection
   * (stored when it may be). `fn` must only read, and only from `spec.tables`.
   */
  cachedRead<T>(
    spec: CachedRead & ReadOptions,
    fn: (db: ReadConnection) => Promise<T & JsonSafe<T>>,
  ): Promise<T> {
    const ctx = currentRequestContext();
    const cluster = this.clusterOf(spec.orgId);
    const endpoint = spec.endpoint ?? ctx?.endpoint ?? "";
    const consistency =
      spec.consistency ?? ctx?.consistency ?? this.readDefaults.for(endpoint);
    return this.cache.read(
      spec,
      {
        cluster: cluster.name,
        tables: spec.tables,
        orgId: spec.allOrgs === true ? undefined : spec.orgId,
      },
      consistency,
      endpoint,
      (position) =>
        fn(
          new RoutedReadConnection(
            this,
            spec.orgId,
            cluster,
            consistency,
            endpoint,
            ctx,
            position,
          ),
        ),
      () => noteServedBy(ctx, "cache"),
    );
  }

  /**
   * Adds a replica to a cluster (default main); it serves only after a probe
   * shows it is a replica of that cluster's primary.
   *
   * @throws {InvalidArgumentError} when it is unreachable or not a replica of this primary.
   */
  addReplica(url: string, options: AddReplicaOptions = {}): Promise<DbNode> {
    return this.fleet.addReplica(url, options);
  }

  /** Takes a replica out of rotation, drains it (up to `drainMs`), closes its pool. */
  removeReplica(
    name: string,
    options: { cluster?: string; drainMs?: number } = {},
  ): Promise<void> {
    return this.fleet.removeReplica(name, options);
  }

  /** A replica of `cluster` by name. @throws {NotFoundError} */
  replicaNamed(cluster: NodeCluster, name: string): ReplicaNode {
    return this.fleet.replicaNamed(cluster, name);
  }
}

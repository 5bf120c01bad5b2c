import type { RouterConfig } from "./config/config";
import { HealthChecker } from "./health/health_checker";
import { RoleWatch } from "./health/role_watch";
import { StallWatch } from "./health/stall_watch";
import { LagMonitor } from "./lag/lag_monitor";
import type { DbNode } from "./nodes/db_node";
import type { NodeCluster } from "./nodes/node_cluster";
import { describePgError } from "./base/pg_errors";
import type { RawSqlGate } from "./sql/raw_sql_gate";
import type { Clock } from "./support/clock";
import {
  EventLoopDelayMonitor,
  type LoopDelay,
  type LoopDelayFigures,
} from "./support/event_loop_delay";
import type { Logger } from "./support/logger";
import { PeriodicTasks } from "./support/periodic_tasks";

/**
 * What watches the nodes in the background, and its timers: health probes
 * (REPLICA_HEALTH_CHECK_INTERVAL, with the catalog of volatile functions
 * refreshed when stale), lag samples (REPLICA_LAG_POLL_INTERVAL), the stall
 * watch (half the shortest attempt deadline) and the role watch
 * (REPLICA_ROLE_CHECK_INTERVAL); logs every node's state once started. Reactions to query errors do not wait for
 * a timer: they call {@link HealthChecker.checkSoon}.
 */
export class Watchers {
  readonly health: HealthChecker;
  readonly lagMonitor: LagMonitor;
  /** Finds replicas that stopped answering without failing. */
  readonly stallWatch: StallWatch;
  /** Takes a replica that left recovery (promoted) out of rotation within a role-check interval. */
  readonly roleWatch: RoleWatch;
  /** Probe timeout of background checks (ms): the connect timeout, at most 5 s. */
  readonly timeoutMs: number;
  /** This process's event-loop delay (the stall watch discounts it; status pages show it). */
  readonly loop: LoopDelay & { figures(): LoopDelayFigures };
  private readonly loopMonitor: EventLoopDelayMonitor | null;
  private readonly tasks: PeriodicTasks;
  private readonly logger: Logger;

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly config: RouterConfig,
    opts: {
      clock: Clock;
      logger: Logger;
      /** Replaces the process's own event-loop delay (tests). */
      loop?: LoopDelay;
    },
  ) {
    this.logger = opts.logger;
    const { clock } = opts;
    this.loopMonitor =
      opts.loop === undefined ? new EventLoopDelayMonitor() : null;
    const given = opts.loop;
    this.loop = this.loopMonitor ?? {
      recentMaxMs: () => given!.recentMaxMs(),
      figures: () => ({ p99Ms: 0, maxMs: given!.recentMaxMs() }),
    };
    const timeoutMs = Math.min(5_000, config.pool.connectionTimeoutMs);
    this.timeoutMs = timeoutMs;
    this.tasks = new PeriodicTasks(opts.logger, describePgError);
    this.health = new HealthChecker(clusters, { timeoutMs, ...opts });
    const checkSoon = (cluster: NodeCluster, node: DbNode) =>
      this.health.checkSoon(cluster, node);
    this.lagMonitor = new LagMonitor(clusters, {
      timeoutMs,
      clock,
      onNotInRecovery: checkSoon,
    });
    this.stallWatch = new StallWatch(clusters, {
      ...config.attemptDeadline,
      ...opts,
      loop: this.loop,
    });
    this.roleWatch = new RoleWatch(clusters, {
      timeoutMs: config.attemptDeadline.maxMs,
      ...opts,
      onPromoted: checkSoon,
    });
  }

  /**
   * Checks every node once, samples lag and loads `rawSql`'s catalog, then
   * starts the timers. Never throws for an unreachable node.
   */
  async start(rawSql: RawSqlGate): Promise<void> {
    const { config, tasks } = this;
    this.loopMonitor?.start();
    await this.health.checkAll();
    await Promise.all([this.lagMonitor.sampleAll(), rawSql.refresh()]);
    tasks.every(config.healthCheckIntervalMs, async () => {
      await this.health.checkAll();
      if (rawSql.catalog.isStale()) await rawSql.refresh();
    });
    tasks.every(config.lagPollIntervalMs, () => this.lagMonitor.sampleAll());
    tasks.every(Math.max(5, config.attemptDeadline.minMs / 2), async () =>
      this.stallWatch.tick(),
    );
    tasks.every(config.roleCheckIntervalMs, async () => this.roleWatch.tick());
    for (const c of this.clusters()) {
      this.logger.info("replica router started", {
        cluster: c.name,
        nodes: c.nodes.map((n) => ({
          name: n.name,
          address: n.address,
          state: n.state({}),
        })),
      });
    }
  }

  /** Stops the timers; checks in progress finish on their own. */
  stop(): void {
    this.tasks.stop();
    this.loopMonitor?.stop();
  }
}

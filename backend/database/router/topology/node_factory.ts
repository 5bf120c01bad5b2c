import {
  MAIN_CLUSTER,
  type ClusterConfig,
  type RouterConfig,
} from "../config/config";
import { DbNode } from "../nodes/db_node";
import type { NodeOptions } from "../nodes/node_types";
import { asReplica, type ReplicaNode } from "../nodes/replica_node";
import { NodeCluster, type LagBound } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";
import { describeAddress, type PoolFactory } from "../nodes/pg_pool";
import { createSelector } from "../selection/selectors";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";

/** Liveness probe on a connection of its own (see `RouterDeps.probe`). */
export type ProbeFn = (
  url: string,
  applicationName: string,
  timeoutMs: number,
) => Promise<void>;

/** What {@link NodeFactory} needs from the router that owns the nodes. */
export interface NodeFactoryDeps {
  readonly config: RouterConfig;
  readonly poolFactory: PoolFactory;
  readonly probe: ProbeFn | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The live cluster of a name (it may not exist yet while the router is built). */
  findCluster(name: string): NodeCluster | undefined;
  /** Probe `node` now rather than at the next health interval. */
  checkSoon(cluster: NodeCluster, node: DbNode): void;
}

/** Nodes of the main cluster keep their name; others are `<cluster>.<name>`. */
export function nodeLabel(cluster: string, name: string): string {
  return cluster === MAIN_CLUSTER ? name : `${cluster}.${name}`;
}

/**
 * Builds clusters and nodes from configuration: a pool per node, and the
 * wiring of each node's events (idle-connection errors, breaker transitions,
 * health changes) to its cluster's serving set, the health checker and the log.
 */
export class NodeFactory {
  private readonly nodeOptions: NodeOptions;
  private readonly wakeTimers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly deps: NodeFactoryDeps) {
    const { config, clock } = deps;
    this.nodeOptions = {
      clock,
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
  }

  /** A cluster with its primary and configured replicas. */
  buildCluster(c: ClusterConfig): NodeCluster {
    const primary = this.buildNode(
      c.name,
      "primary",
      "primary",
      c.primaryUrl,
      1,
    );
    primary.zone = c.primaryZone ?? null;
    const replicas = c.replicas.map((r) => {
      const node = this.buildReplica(c.name, r.name, r.url, r.weight);
      node.zone = r.zone ?? null;
      return node;
    });
    const { maxLagSeconds, maxLagBytes, strategy } = this.deps.config;
    const bound: LagBound = {
      ...(maxLagSeconds !== null ? { maxLagSeconds } : {}),
      ...(maxLagBytes !== null ? { maxLagBytes } : {}),
    };
    return new NodeCluster(
      c.name,
      primary,
      replicas,
      createSelector(strategy),
      bound,
    );
  }

  /** A replica with its own pool, breaker and lag tracker; `url` is never logged. */
  buildReplica(
    cluster: string,
    name: string,
    url: string,
    weight: number,
  ): ReplicaNode {
    return asReplica(this.buildNode(cluster, name, "replica", url, weight));
  }

  /** One node with its own pool; `url` holds credentials and is never logged. */
  buildNode(
    cluster: string,
    name: string,
    role: "primary" | "replica",
    url: string,
    weight: number,
  ): DbNode {
    const { config, probe } = this.deps;
    const label = nodeLabel(cluster, name);
    const pool = this.deps.poolFactory(
      url,
      config.pool,
      `${config.pool.applicationName}:${label}`,
    );
    const probeName = `${config.pool.applicationName}:${label}:probe`;
    const node = new DbNode(
      label,
      cluster,
      role,
      describeAddress(url),
      pool,
      weight,
      this.nodeOptions,
      probe === undefined
        ? undefined
        : (timeoutMs) => probe(url, probeName, timeoutMs),
    );
    pool.on("error", (err) => {
      // An idle client died (server restart, network). Count it like a failed query.
      const error = describePgError(err);
      node.health.recordPassiveFailure(error);
      node.breaker?.recordFailure(error);
      this.deps.findCluster(cluster)?.refresh();
    });
    this.watchBreaker(cluster, node);
    node.health.onChange((e) => {
      const fields = { node: e.node, from: e.from, to: e.to, reason: e.reason };
      if (e.to === "healthy")
        this.deps.logger.info("node health changed", fields);
      else this.deps.logger.warn("node health changed", fields);
    });
    return node;
  }

  /** Stops the wake-up timers of open breakers; nodes built later schedule none. */
  close(): void {
    this.closed = true;
    for (const t of this.wakeTimers) clearTimeout(t);
  }

  private watchBreaker(cluster: string, node: DbNode): void {
    const breaker = node.breaker;
    if (breaker === null) return;
    breaker.onStateChange((t) => {
      const owner = this.deps.findCluster(cluster);
      owner?.refresh();
      // The open period is over: probe now, so a restarted replica serves again
      // after the open duration plus one check, not a whole health interval.
      if (t.to === "half_open" && owner !== undefined)
        this.deps.checkSoon(owner, node);
      // The half-open step is taken lazily when the state is read; wake up
      // when the open period ends so it is not left to the next lag poll.
      const state = breaker.state;
      if (state.name === "open" && !state.manual && !this.closed) {
        const wake = setTimeout(
          () => {
            this.wakeTimers.delete(wake);
            this.deps.findCluster(cluster)?.refresh();
          },
          Math.max(0, state.reopensAtMs - this.deps.clock.now()) + 1,
        );
        wake.unref();
        this.wakeTimers.add(wake);
      }
      this.deps.logger.warn("circuit breaker state changed", {
        node: t.node,
        from: t.from,
        to: t.to,
        reason: t.reason,
      });
    });
  }
}

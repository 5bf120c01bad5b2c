import type { RouterConfig } from "./config";
import type { Consistency, ConsistencyToken } from "./consistency";
import type { DbNode } from "./db_node";
import { withTimeout } from "./health_checker";
import { parseLsn } from "./lag";
import type { FallbackReason, NodeCluster } from "./node_cluster";

/** Why a read went where it went (the `reason` label of `read_routing_total`). */
export type RouteReason =
  | "replica"
  | FallbackReason
  | "strong"
  | "replicas_disabled"
  | "endpoint_disabled"
  | "bounded_unavailable"
  | "token_not_replayed"
  | "token_other_cluster"
  | "retry"
  | "hedge";

/** A planned read. */
export interface Choice {
  node: DbNode;
  reason: RouteReason;
}

/**
 * Decides which node serves a read, from the switches (global, per
 * endpoint), the requested consistency, and the replicas the cluster
 * currently lets serve. Conservative: when in doubt, the primary.
 */
export class ReadPlanner {
  /** Global switch (`USE_READ_REPLICAS`). */
  replicaReadsEnabled: boolean;
  private enabledEndpoints: Set<string> | null;
  private readonly disabledEndpoints: Set<string>;
  private readonly maxWaitMs: number;

  constructor(config: RouterConfig) {
    this.replicaReadsEnabled = config.useReadReplicas;
    this.enabledEndpoints =
      config.enabledEndpoints === null
        ? null
        : new Set(config.enabledEndpoints);
    this.disabledEndpoints = new Set(config.disabledEndpoints);
    this.maxWaitMs = config.readYourWritesMaxWaitMs;
  }

  /** May `endpoint` read from replicas? */
  endpointAllowed(endpoint: string): boolean {
    if (this.disabledEndpoints.has(endpoint)) return false;
    return (
      this.enabledEndpoints === null || this.enabledEndpoints.has(endpoint)
    );
  }

  /** Turns replica reads for one endpoint on or off at run time. */
  setEndpoint(endpoint: string, enabled: boolean): void {
    if (enabled) {
      this.disabledEndpoints.delete(endpoint);
      this.enabledEndpoints?.add(endpoint);
    } else {
      this.disabledEndpoints.add(endpoint);
    }
  }

  /** The switches as the status endpoint shows them. */
  switches(): {
    enabled: boolean;
    enabledEndpoints: string[] | null;
    disabledEndpoints: string[];
  } {
    return {
      enabled: this.replicaReadsEnabled,
      enabledEndpoints:
        this.enabledEndpoints === null
          ? null
          : [...this.enabledEndpoints].sort(),
      disabledEndpoints: [...this.disabledEndpoints].sort(),
    };
  }

  /**
   * Plans one read. Synchronous except for read-your-writes reads that must
   * ask a replica how far it has replayed.
   */
  choose(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    tried: readonly DbNode[] | undefined,
  ): Choice | Promise<Choice> {
    const primary = cluster.primary;
    if (!this.replicaReadsEnabled)
      return { node: primary, reason: "replicas_disabled" };
    // With an allow-list, reads outside any endpoint ("") are not on it either.
    if (!this.endpointAllowed(endpoint))
      return { node: primary, reason: "endpoint_disabled" };
    switch (consistency.level) {
      case "strong":
        return { node: primary, reason: "strong" };
      case "eventual": {
        const node = this.pick(cluster, cluster.serving, tried);
        return node !== undefined
          ? { node, reason: "replica" }
          : { node: primary, reason: cluster.fallbackReason };
      }
      case "bounded": {
        const within = cluster.serving.filter((n) =>
          n.lag!.withinBound(consistency),
        );
        const node = this.pick(cluster, within, tried);
        if (node !== undefined) return { node, reason: "replica" };
        return {
          node: primary,
          reason:
            cluster.serving.length === 0
              ? cluster.fallbackReason
              : "bounded_unavailable",
        };
      }
      case "read_your_writes":
        return this.chooseForToken(cluster, consistency.token, tried);
    }
  }

  /**
   * A second replica for a hedged read, chosen now (no waiting): one the
   * read's consistency allows (a bounded read: within its bound; a token
   * read: known to have replayed the token), not in `exclude`, breaker
   * acquired. Never the primary: hedges must not add load there.
   */
  hedgeTarget(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    exclude: readonly DbNode[],
  ): DbNode | undefined {
    if (!this.replicaReadsEnabled || !this.endpointAllowed(endpoint))
      return undefined;
    switch (consistency.level) {
      case "strong":
        return undefined;
      case "eventual":
        return this.pick(cluster, cluster.serving, exclude);
      case "bounded":
        return this.pick(
          cluster,
          cluster.serving.filter((n) => n.lag!.withinBound(consistency)),
          exclude,
        );
      case "read_your_writes":
        if (consistency.token.cluster !== cluster.name) return undefined;
        return this.pick(
          cluster,
          cluster.serving.filter((n) => n.hasReplayed(consistency.token.lsn)),
          exclude,
        );
    }
  }

  private chooseForToken(
    cluster: NodeCluster,
    token: ConsistencyToken,
    tried: readonly DbNode[] | undefined,
  ): Choice | Promise<Choice> {
    const primary = cluster.primary;
    if (token.cluster !== cluster.name)
      return { node: primary, reason: "token_other_cluster" };
    if (cluster.serving.length === 0)
      return { node: primary, reason: cluster.fallbackReason };
    // Replay positions only grow, so an old observation never claims too much.
    const caughtUp = cluster.serving.filter((n) => n.hasReplayed(token.lsn));
    const node = this.pick(cluster, caughtUp, tried);
    if (node !== undefined) return { node, reason: "replica" };
    if (this.maxWaitMs <= 0)
      return { node: primary, reason: "token_not_replayed" };
    // Wait on the replica known to be furthest along: a paused or slow one is
    // passed over instead of costing every token read the whole wait.
    const candidate = this.pick(cluster, furthestAlong(cluster.serving), tried);
    if (candidate === undefined)
      return { node: primary, reason: "token_not_replayed" };
    return this.waitForReplay(candidate, token.lsn).then((reached) => {
      if (reached) return { node: candidate, reason: "replica" as const };
      candidate.breaker!.release();
      return { node: primary, reason: "token_not_replayed" as const };
    });
  }

  /**
   * Asks `node` for its replay position until it reaches `lsn`, at most
   * READ_YOUR_WRITES_MAX_WAIT: a bounded handful of tiny queries per read.
   */
  private async waitForReplay(node: DbNode, lsn: bigint): Promise<boolean> {
    const deadline = performance.now() + this.maxWaitMs;
    let pauseMs = 1;
    for (;;) {
      try {
        // Bounded by the time left (at least 5 ms): a replica that froze
        // must not hold a token read until the statement timeout.
        const rows = await withTimeout(
          node.query("SELECT pg_last_wal_replay_lsn()::text AS lsn", []),
          Math.max(5, deadline - performance.now()),
          node.name,
        );
        const text = rows[0]?.lsn;
        if (typeof text === "string") {
          node.noteReplayed(parseLsn(text));
          if (node.hasReplayed(lsn)) return true;
        }
      } catch {
        return false;
      }
      const left = deadline - performance.now();
      if (left <= 0) return false;
      // Local replay usually takes well under a millisecond: ask again soon,
      // then back off (1, 2, 4, 8 ms...), so a slow replica costs a handful of queries.
      await new Promise((r) => setTimeout(r, Math.min(pauseMs, left)));
      pauseMs *= 2;
    }
  }

  /** Picks among `candidates` (minus `tried`), honouring each breaker's half-open probe limit. */
  private pick(
    cluster: NodeCluster,
    candidates: readonly DbNode[],
    tried: readonly DbNode[] | undefined,
  ): DbNode | undefined {
    let list =
      tried === undefined
        ? candidates
        : candidates.filter((n) => !tried.includes(n));
    while (list.length > 0) {
      const node = cluster.selector.pick(list)!;
      if (node.breaker!.tryAcquire()) return node;
      list = list.filter((n) => n !== node);
    }
    return undefined;
  }
}

/** The replicas sharing the highest known replay position. */
function furthestAlong(nodes: readonly DbNode[]): readonly DbNode[] {
  let best = -1n;
  for (const n of nodes) if (n.replayedLsn > best) best = n.replayedLsn;
  return nodes.filter((n) => n.replayedLsn === best);
}

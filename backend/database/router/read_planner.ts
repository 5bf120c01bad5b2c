import type { RouterConfig } from "./config/config";
import type { Consistency, ConsistencyToken } from "./consistency/consistency";
import type { DbNode } from "./nodes/db_node";
import { withTimeout } from "./health/health_checker";
import { parseLsn } from "./lag/lag_tracker";
import type { FallbackReason, NodeCluster } from "./nodes/node_cluster";

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
  | "hedge"
  | "zone_spill";

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
  /** SERVICE_ZONE: replicas there are preferred; null = no preference. */
  readonly serviceZone: string | null;

  constructor(config: RouterConfig) {
    this.replicaReadsEnabled = config.useReadReplicas;
    this.enabledEndpoints =
      config.enabledEndpoints === null
        ? null
        : new Set(config.enabledEndpoints);
    this.disabledEndpoints = new Set(config.disabledEndpoints);
    this.maxWaitMs = config.readYourWritesMaxWaitMs;
    this.serviceZone = config.serviceZone;
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
          ? { node, reason: this.replicaReason(node) }
          : { node: primary, reason: cluster.fallbackReason };
      }
      case "bounded": {
        const within = cluster.serving.filter((n) =>
          n.lag!.withinBound(consistency),
        );
        const node = this.pick(cluster, within, tried);
        if (node !== undefined)
          return { node, reason: this.replicaReason(node) };
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
    // With a service zone, the zone's own replicas are considered (and
    // waited on) before a remote one: a remote replica, sampled later, often
    // looks furthest along, and reads would otherwise drift out of the zone.
    const zone = this.serviceZone;
    const local =
      zone === null ? [] : cluster.serving.filter((n) => n.zone === zone);
    const pool = local.length > 0 ? local : cluster.serving;
    const caughtUp = pool.filter((n) => n.hasReplayed(token.lsn));
    const node = this.pick(cluster, caughtUp, tried);
    if (node !== undefined) return { node, reason: this.replicaReason(node) };
    if (this.maxWaitMs <= 0)
      return this.tokenElsewhere(cluster, token, tried, local.length > 0);
    // Wait on the replica known to be furthest along: a paused or slow one is
    // passed over instead of costing every token read the whole wait.
    const candidate = this.pick(cluster, furthestAlong(pool), tried);
    if (candidate === undefined)
      return this.tokenElsewhere(cluster, token, tried, local.length > 0);
    return this.waitForReplay(candidate, token.lsn).then((reached) => {
      if (reached)
        return { node: candidate, reason: this.replicaReason(candidate) };
      candidate.breaker!.release();
      return this.tokenElsewhere(cluster, token, tried, local.length > 0);
    });
  }

  /**
   * After the local zone could not serve a token read: another zone's
   * replica known to have replayed it (no waiting there), else the primary.
   */
  private tokenElsewhere(
    cluster: NodeCluster,
    token: ConsistencyToken,
    tried: readonly DbNode[] | undefined,
    /** Only the service zone's replicas were considered so far. */
    localOnly: boolean,
  ): Choice {
    if (localOnly) {
      const zone = this.serviceZone;
      const remote = cluster.serving.filter(
        (n) => n.zone !== zone && n.hasReplayed(token.lsn),
      );
      const node = this.pick(cluster, remote, tried);
      if (node !== undefined) return { node, reason: "zone_spill" };
    }
    return { node: cluster.primary, reason: "token_not_replayed" };
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

  /**
   * Picks among `candidates` (minus `tried`), honouring each breaker's
   * half-open probe limit. With SERVICE_ZONE set: a replica in the service's
   * zone when one qualifies, else the nearest other zone by observed read
   * latency; the strategy balances within the chosen zone.
   */
  private pick(
    cluster: NodeCluster,
    candidates: readonly DbNode[],
    tried: readonly DbNode[] | undefined,
  ): DbNode | undefined {
    const list =
      tried === undefined
        ? candidates
        : candidates.filter((n) => !tried.includes(n));
    if (this.serviceZone === null) return pickAcquired(cluster, list);
    const zone = this.serviceZone;
    const local = pickAcquired(
      cluster,
      list.filter((n) => n.zone === zone),
    );
    if (local !== undefined) return local;
    let rest = list.filter((n) => n.zone !== zone);
    while (rest.length > 0) {
      const nearest = nearestZone(rest);
      const node = pickAcquired(
        cluster,
        rest.filter((n) => n.zone === nearest),
      );
      if (node !== undefined) return node;
      rest = rest.filter((n) => n.zone !== nearest);
    }
    return undefined;
  }

  /** `replica`, or `zone_spill` for a replica outside SERVICE_ZONE. */
  private replicaReason(node: DbNode): "replica" | "zone_spill" {
    return this.serviceZone !== null && node.zone !== this.serviceZone
      ? "zone_spill"
      : "replica";
  }

  /**
   * With SERVICE_ZONE set, why a read planned onto `node` left the zone
   * (null when it did not): no replica configured there, every one there
   * down (their state), or none there satisfying the read (consistency,
   * retry, breaker probe limit).
   */
  spillReason(cluster: NodeCluster, node: DbNode): string | null {
    const zone = this.serviceZone;
    if (zone === null || node.role !== "replica" || node.zone === zone)
      return null;
    const local = cluster.replicas.filter((n) => n.zone === zone);
    if (local.length === 0) return "no_local_replica";
    const serving = local.filter((n) => cluster.serving.includes(n));
    if (serving.length > 0) return "local_not_eligible";
    // One word for the zone: the same state everywhere, else "down".
    const states = new Set(local.map((n) => cluster.stateOf(n)));
    return states.size === 1 ? `local_${[...states][0]!}` : "local_down";
  }
}

/** `selector.pick` among `list`, skipping nodes whose breaker refuses another probe. */
function pickAcquired(
  cluster: NodeCluster,
  candidates: readonly DbNode[],
): DbNode | undefined {
  let list = candidates;
  while (list.length > 0) {
    const node = cluster.selector.pick(list)!;
    if (node.breaker!.tryAcquire()) return node;
    list = list.filter((n) => n !== node);
  }
  return undefined;
}

/** The zone of `nodes` with the lowest median read latency seen (unknown last; ties by name). */
function nearestZone(nodes: readonly DbNode[]): string | null {
  let best: { zone: string | null; ms: number } | null = null;
  for (const n of nodes) {
    const ms = n.latency.percentile(0.5, 5) ?? Infinity;
    if (
      best === null ||
      ms < best.ms ||
      (ms === best.ms && (n.zone ?? "") < (best.zone ?? ""))
    )
      best = { zone: n.zone, ms };
  }
  return best?.zone ?? null;
}

/** The replicas sharing the highest known replay position. */
function furthestAlong(nodes: readonly DbNode[]): readonly DbNode[] {
  let best = -1n;
  for (const n of nodes) if (n.replayedLsn > best) best = n.replayedLsn;
  return nodes.filter((n) => n.replayedLsn === best);
}

import type { RouterConfig } from "./config/config";
import type { Consistency, ConsistencyToken } from "./consistency/consistency";
import type { DbNode } from "./nodes/db_node";
import { furthestAlong, waitForReplay } from "./consistency/replay_wait";
import type { FallbackReason, NodeCluster } from "./nodes/node_cluster";
import type { ReplicaPermit } from "./nodes/replica_node";
import { ZoneAwarePicker } from "./selection/zone_aware_picker";

/** Why a read went where it went (the `reason` label of `read_routing_total`). */
export type RouteReason =
  | "replica"
  | FallbackReason
  | "strong"
  | "default_strong"
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
  /**
   * On a replica: the permit on its breaker, which the read's attempt there
   * settles (success, failure, or release when the read goes elsewhere).
   * Absent on the primary, which has no breaker.
   */
  permit?: ReplicaPermit;
  /**
   * A read-your-writes token's position `node` is not known to have
   * replayed: the read checks it in its own round trip (nodes/guarded_read.ts).
   */
  guard?: bigint;
}

/**
 * Decides which node serves a read, from the switches (global, per
 * endpoint), the requested consistency, and the replicas the cluster
 * currently lets serve. Conservative: when in doubt, the primary.
 */
export class ReadPlanner {
  private replicaReads: boolean;
  private enabledEndpoints: Set<string> | null;
  private readonly disabledEndpoints: Set<string>;
  private readonly maxWaitMs: number;
  /** SERVICE_ZONE: replicas there are preferred; null = no preference. */
  readonly serviceZone: string | null;
  private readonly picker: ZoneAwarePicker;

  constructor(config: RouterConfig) {
    this.replicaReads = config.useReadReplicas;
    this.enabledEndpoints =
      config.enabledEndpoints === null
        ? null
        : new Set(config.enabledEndpoints);
    this.disabledEndpoints = new Set(config.disabledEndpoints);
    this.maxWaitMs = config.readYourWritesMaxWaitMs;
    this.serviceZone = config.serviceZone;
    this.picker = new ZoneAwarePicker(config.serviceZone);
  }

  /** May `endpoint` read from replicas? */
  endpointAllowed(endpoint: string): boolean {
    if (this.disabledEndpoints.has(endpoint)) return false;
    return (
      this.enabledEndpoints === null || this.enabledEndpoints.has(endpoint)
    );
  }

  /** Global switch (`USE_READ_REPLICAS`, then admin changes). */
  get replicaReadsEnabled(): boolean {
    return this.replicaReads;
  }

  /** Turns replica reads on or off for every endpoint at run time. */
  setReplicaReads(enabled: boolean): void {
    this.replicaReads = enabled;
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
      enabled: this.replicaReads,
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
    /** May a token read carry its replay check (one statement)? */
    guardable = false,
  ): Choice | Promise<Choice> {
    const primary = cluster.primary;
    if (!this.replicaReads)
      return { node: primary, reason: "replicas_disabled" };
    // With an allow-list, reads outside any endpoint ("") are not on it either.
    if (!this.endpointAllowed(endpoint))
      return { node: primary, reason: "endpoint_disabled" };
    switch (consistency.level) {
      case "strong":
        return {
          node: primary,
          reason: consistency.byDefault === true ? "default_strong" : "strong",
        };
      case "eventual": {
        const permit = this.picker.pick(cluster, cluster.serving, tried);
        return permit !== undefined
          ? this.onReplica(permit)
          : { node: primary, reason: cluster.fallbackReason };
      }
      case "bounded": {
        const within = cluster.serving.filter((n) =>
          n.lag.withinBound(consistency),
        );
        const permit = this.picker.pick(cluster, within, tried);
        if (permit !== undefined) return this.onReplica(permit);
        return {
          node: primary,
          reason:
            cluster.serving.length === 0
              ? cluster.fallbackReason
              : "bounded_unavailable",
        };
      }
      case "read_your_writes":
        return this.chooseForToken(
          cluster,
          consistency.token,
          tried,
          guardable,
        );
    }
  }

  /**
   * A second replica for a hedged read, chosen now (no waiting): one the
   * read's consistency allows (a bounded read: within its bound; a token
   * read: known to have replayed the token), not in `exclude`: the permit
   * on its breaker (`owner` is the replica). Never the primary: hedges must
   * not add load there.
   */
  hedgeTarget(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    exclude: readonly DbNode[],
  ): ReplicaPermit | undefined {
    if (!this.replicaReads || !this.endpointAllowed(endpoint)) return undefined;
    switch (consistency.level) {
      case "strong":
        return undefined;
      case "eventual":
        return this.picker.pick(cluster, cluster.serving, exclude);
      case "bounded":
        return this.picker.pick(
          cluster,
          cluster.serving.filter((n) => n.lag.withinBound(consistency)),
          exclude,
        );
      case "read_your_writes":
        if (consistency.token.cluster !== cluster.name) return undefined;
        return this.picker.pick(
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
    guardable: boolean,
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
    const localOnly = local.length > 0;
    const pool = localOnly ? local : cluster.serving;
    const caughtUp = pool.filter((n) => n.hasReplayed(token.lsn));
    const permit = this.picker.pick(cluster, caughtUp, tried);
    if (permit !== undefined) return this.onReplica(permit);
    // None known to have: one that can check in the read's own round trip
    // (the strategy balancing among them), unless it was just found behind
    // (it would read only to throw the rows away; see DbNode.noteBehind).
    if (guardable) {
      const checkable = pool.filter((n) => n.checkable());
      const permit = this.picker.pick(cluster, checkable, tried);
      if (permit !== undefined) return this.onReplica(permit, token.lsn);
    }
    if (this.maxWaitMs <= 0)
      return this.tokenElsewhere(cluster, token, tried, localOnly);
    // Else wait on the one known furthest along, so a paused or slow
    // replica is passed over instead of costing every token read.
    const candidate = this.picker.pick(cluster, furthestAlong(pool), tried);
    if (candidate === undefined)
      return this.tokenElsewhere(cluster, token, tried, localOnly);
    return waitForReplay(candidate.owner, token.lsn, this.maxWaitMs).then(
      (reached) => {
        if (reached) return this.onReplica(candidate);
        candidate.release();
        return this.tokenElsewhere(cluster, token, tried, localOnly);
      },
      (err: unknown) => {
        candidate.release();
        throw err;
      },
    );
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
      const permit = this.picker.pick(cluster, remote, tried);
      if (permit !== undefined)
        return { node: permit.owner, reason: "zone_spill", permit };
    }
    return { node: cluster.primary, reason: "token_not_replayed" };
  }

  /** A read planned onto the replica `permit` was taken on. */
  private onReplica(permit: ReplicaPermit, guard?: bigint): Choice {
    const node = permit.owner;
    const reason = this.picker.replicaReason(node);
    return guard === undefined
      ? { node, reason, permit }
      : { node, reason, permit, guard };
  }

  /**
   * With SERVICE_ZONE set, why a read planned onto `node` left the zone
   * (null when it did not); see {@link ZoneAwarePicker.spillReason}.
   */
  spillReason(cluster: NodeCluster, node: DbNode): string | null {
    return this.picker.spillReason(cluster, node);
  }
}

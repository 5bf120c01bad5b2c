import type { AddReplicaOptions } from "./topology/membership";
import type { CacheStatus } from "./cache/cache_types";
import type { RouterConfig } from "./config/config";
import type { DbNode } from "./nodes/db_node";
import type { NodeCluster } from "./nodes/node_cluster";
import type { ReplicaNode } from "./nodes/replica_node";
import type { LoopDelayFigures } from "./support/event_loop_delay";

/*
 * The router as monitoring, admin and fleet control see it: small roles,
 * each a few methods. Code outside the core takes the roles it needs
 * (`router.roles`), never the router's collaborators.
 */

/** The read switches as the status endpoint shows them. */
export interface ReadSwitches {
  /** The global switch (USE_READ_REPLICAS and admin changes). */
  readonly enabled: boolean;
  /** Only these endpoints read from replicas; null = all. */
  readonly enabledEndpoints: string[] | null;
  readonly disabledEndpoints: string[];
}

/** What monitoring reads of the router: snapshots, never a handle that changes it. */
export interface RouterStatusView {
  readonly config: Readonly<RouterConfig>;
  /** Every cluster, main first, with its nodes (read their state; do not change it). */
  readonly clusters: readonly NodeCluster[];
  readSwitches(): ReadSwitches;
  /** The consistency of reads that name none: the default and each endpoint's own (DEFAULT_READ_CONSISTENCY). */
  readDefaults(): { default: string; endpoints: Record<string, string> };
  cacheStatus(): CacheStatus;
  /** This process's event-loop delay over the last whole second. */
  eventLoopDelay(): LoopDelayFigures;
  /** The primary's WAL position at the last lag sample; null before the first. */
  primaryLsn(cluster: string): bigint | null;
}

/** The switches admin changes set (applied by fleet control on every instance). */
export interface RouterSwitches {
  setReplicaReads(enabled: boolean): void;
  setEndpointReplicaReads(endpoint: string, enabled: boolean): void;
  readonly cacheEnabled: boolean;
  /** Switching on resets the shared tier's epochs first (bounded by CACHE_TIMEOUT). */
  setCache(enabled: boolean): Promise<void>;
  setEndpointCache(endpoint: string, enabled: boolean): void;
}

/** An admin forcing a replica's circuit open or closed. */
export interface CircuitControl {
  setCircuit(replica: ReplicaNode, open: boolean, reason: string): void;
}

/** Replicas found, added and removed at run time; every node checked at once. */
export interface RouterMembership {
  clusterNamed(name: string): NodeCluster;
  replicaNamed(cluster: NodeCluster, name: string): ReplicaNode;
  addReplica(url: string, options?: AddReplicaOptions): Promise<DbNode>;
  removeReplica(
    name: string,
    options?: { cluster?: string; drainMs?: number },
  ): Promise<void>;
  /** A health check of every node and a lag sample, now. */
  checkNow(): Promise<void>;
}

/** Every role at once, as the service's composition hands it out. */
export type RouterRoles = RouterStatusView &
  RouterSwitches &
  CircuitControl &
  RouterMembership;

import {
  type CacheStatus,
  type DbNode,
  formatLsn,
  type PoolStats,
  type RouterStatusView,
} from "../router/index";
import type { ControlStatus } from "../control/fleet_view";
import { hostHider } from "./host_hider";
import { publicError, publicInstanceId } from "./public_error";

/** A node as the status endpoint shows it (no credentials, only host:port/db). */
export interface NodeStatus {
  name: string;
  role: "primary" | "replica";
  /** host:port/database; null unless the caller holds the admin or monitoring token. */
  address: string | null;
  /** Availability zone or region, when configured. */
  zone: string | null;
  state: string;
  healthy: boolean;
  circuit: "closed" | "open" | "half_open";
  lagSeconds: number | null;
  lagBytes: number | null;
  replayLsn: string | null;
  lastCheckAt: string | null;
  lastError: string | null;
  pool: PoolStats;
  reads: number;
  /** Times the stall watch found this replica silent, by verdict (always 0 for a primary). */
  stalls: StallCounts;
}

/** Stall-watch verdicts on one replica since start. */
export interface StallCounts {
  /** Taken out of rotation until a probe answered. */
  suspected: number;
  /** The probe failed too: its outstanding reads were moved. */
  confirmed: number;
  /** Silent, but not taken out: its peers were as slow, or enough replicas were out. */
  withheld: number;
}

/** This process's event-loop delay over the last whole second. */
export interface EventLoopStatus {
  delayP99Ms: number;
  delayMaxMs: number;
}

/** Body of GET /v1/system/database/replicas/status. */
export interface ReplicaStatusResponse {
  enabled: boolean;
  strategy: string;
  switches: {
    enabled: boolean;
    enabledEndpoints: string[] | null;
    disabledEndpoints: string[];
  };
  /**
   * The consistency of a read that names none (DEFAULT_READ_CONSISTENCY),
   * and the endpoints with their own (READ_CONSISTENCY_ENDPOINTS).
   */
  readDefaults: { default: string; endpoints: Record<string, string> };
  primary: NodeStatus;
  replicas: NodeStatus[];
  summary: { total: number; healthy: number; serving: number };
  /** This service's zone (SERVICE_ZONE); null = no zone preference. */
  serviceZone: string | null;
  /** Why reads go to the primary, when no replica serves. */
  fallbackReason: string | null;
  /** The query cache: switches and tiers (memory; redis or encore when configured). */
  cache: CacheStatus;
  /** This instance in the fleet control plane: applied version, store reachable, settings not applied yet. */
  fleet: ControlStatus | null;
  /** How late this process's event loop runs (high: the process is overloaded; answers and timers come late). */
  eventLoop: EventLoopStatus;
  /** Further org-range clusters, if configured. */
  clusters: {
    name: string;
    primary: NodeStatus;
    replicas: NodeStatus[];
    serving: number;
  }[];
}

/** Body of GET /v1/system/database/replicas/health. */
export interface ReplicaHealthResponse {
  healthy: boolean;
  primaryHealthy: boolean;
  replicaCount: number;
  healthyReplicaCount: number;
}

/** Body of GET /v1/system/database/replicas/lag. */
export interface ReplicaLagResponse {
  replicas: {
    name: string;
    lagSeconds: number | null;
    lagBytes: number | null;
    status: string;
  }[];
  thresholds: {
    warningSeconds: number;
    criticalSeconds: number;
    maxLagSeconds: number | null;
    maxLagBytes: number | null;
  };
  primaryLsn: string | null;
}

/** Body of GET /v1/system/database/connection-pool/stats. */
export interface PoolStatsResponse {
  primary: PoolStats;
  replicas: ({ name: string } & PoolStats)[];
}

/** GET /v1/system/database/replicas/status */
export function replicaStatus(
  router: RouterStatusView,
  /** The fleet control plane, when there is one (the status shows its part). */
  control?: { status(): ControlStatus },
  /** `addresses: true` shows each node's host:port/database (to token holders only). */
  show: { addresses: boolean } = { addresses: false },
): ReplicaStatusResponse {
  const main = router.clusters[0]!;
  const switches = router.readSwitches();
  const hide = hostHider(router);
  const node = (n: DbNode): NodeStatus => {
    const s = nodeStatus(router, n);
    return show.addresses
      ? s
      : {
          ...s,
          address: null,
          lastError:
            s.lastError === null ? null : publicError(s.lastError, hide),
        };
  };
  const replicas = main.replicas.map(node);
  return {
    enabled: switches.enabled,
    strategy: router.config.strategy,
    switches,
    readDefaults: router.readDefaults(),
    primary: node(main.primary),
    replicas,
    summary: {
      total: replicas.length,
      healthy: replicas.filter((r) => r.healthy).length,
      serving: main.serving.length,
    },
    fallbackReason: main.serving.length === 0 ? main.fallbackReason : null,
    serviceZone: router.config.serviceZone,
    cache: show.addresses
      ? router.cacheStatus()
      : publicCache(router.cacheStatus(), hide),
    fleet: fleetStatus(control, show.addresses ? null : hide),
    eventLoop: eventLoopStatus(router),
    clusters: router.clusters.slice(1).map((c) => ({
      name: c.name,
      primary: node(c.primary),
      replicas: c.replicas.map(node),
      serving: c.serving.length,
    })),
  };
}

/** GET /v1/system/database/replicas/health: 503 when the primary is down. */
export function replicaHealth(router: RouterStatusView): ReplicaHealthResponse {
  const main = router.clusters[0]!;
  const primaryHealthy = main.primary.health.verdict === "healthy";
  const healthyReplicaCount = main.replicas.filter(
    (n) => n.health.verdict === "healthy",
  ).length;
  // Healthy = this instance can answer every read and write: that needs the
  // primary (reads fall back to it). Replicas down is degradation, shown in
  // healthyReplicaCount and alerted on, not a reason to pull the instance
  // out of a load balancer — and under `encore run` no replica ever is one.
  const healthy = primaryHealthy;
  return {
    healthy,
    primaryHealthy,
    replicaCount: main.replicas.length,
    healthyReplicaCount,
  };
}

/** GET /v1/system/database/replicas/lag */
export function replicaLag(router: RouterStatusView): ReplicaLagResponse {
  const main = router.clusters[0]!;
  return {
    replicas: router.clusters.flatMap((c) =>
      c.replicas.map((n) => {
        const r = n.lag.reading;
        return {
          name: n.name,
          lagSeconds: r.lagSeconds,
          lagBytes: r.lagBytes,
          status: r.status,
        };
      }),
    ),
    thresholds: {
      warningSeconds: router.config.lagWarningSeconds,
      criticalSeconds: router.config.lagCriticalSeconds,
      maxLagSeconds: router.config.maxLagSeconds,
      maxLagBytes: router.config.maxLagBytes,
    },
    primaryLsn: optionalLsn(router.primaryLsn(main.name)),
  };
}

/** GET /v1/system/database/connection-pool/stats */
export function poolStats(router: RouterStatusView): PoolStatsResponse {
  const main = router.clusters[0]!;
  return {
    primary: main.primary.poolStats(),
    replicas: router.clusters.flatMap((c) =>
      c.replicas.map((n) => ({ name: n.name, ...n.poolStats() })),
    ),
  };
}

/** One node as the status endpoint (and the fleet heartbeat) shows it. */
export function nodeStatus(router: RouterStatusView, node: DbNode): NodeStatus {
  const health = node.health.snapshot;
  const lag = node.lag?.reading;
  const bound = {
    ...(router.config.maxLagSeconds !== null
      ? { maxLagSeconds: router.config.maxLagSeconds }
      : {}),
    ...(router.config.maxLagBytes !== null
      ? { maxLagBytes: router.config.maxLagBytes }
      : {}),
  };
  const state = node.state(bound);
  return {
    name: node.name,
    role: node.role,
    address: node.address,
    zone: node.zone,
    state,
    healthy: health.verdict === "healthy",
    circuit: node.breaker?.stateName ?? "closed",
    lagSeconds: node.role === "primary" ? 0 : (lag?.lagSeconds ?? null),
    lagBytes: node.role === "primary" ? 0 : (lag?.lagBytes ?? null),
    replayLsn: lag?.replayLsn ?? null,
    lastCheckAt:
      health.lastCheckAtMs === null
        ? null
        : new Date(health.lastCheckAtMs).toISOString(),
    lastError: health.lastError ?? node.lag?.lastError ?? null,
    pool: node.poolStats(),
    reads: node.reads,
    stalls: {
      suspected: node.stallsSuspected,
      confirmed: node.stallsConfirmed,
      withheld: node.stallsWithheld,
    },
  };
}

function eventLoopStatus(router: RouterStatusView): EventLoopStatus {
  const f = router.eventLoopDelay();
  return {
    delayP99Ms: Math.round(f.p99Ms * 10) / 10,
    delayMaxMs: Math.round(f.maxMs * 10) / 10,
  };
}

function optionalLsn(lsn: bigint | null): string | null {
  return lsn === null ? null : formatLsn(lsn);
}

/** This instance's part in the fleet, with hosts hidden from its pending errors when `hide` is given. */
function fleetStatus(
  control: { status(): ControlStatus } | undefined,
  hide: ((text: string) => string) | null,
): ControlStatus | null {
  const status = control?.status() ?? null;
  if (status === null || hide === null) return status;
  return {
    ...status,
    instanceId: publicInstanceId(status.instanceId),
    pending: status.pending.map((p) => ({
      ...p,
      error: publicError(p.error, hide),
    })),
  };
}

/** The cache's status with each tier's last error as its kind (see {@link publicError}). */
function publicCache(
  cache: CacheStatus,
  hide: (text: string) => string,
): CacheStatus {
  return {
    ...cache,
    tiers: cache.tiers.map((t) =>
      "lastError" in t && typeof t.lastError === "string"
        ? { ...t, lastError: publicError(t.lastError, hide) }
        : t,
    ),
  };
}

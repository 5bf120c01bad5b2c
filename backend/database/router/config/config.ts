import type { Consistency } from "../consistency/consistency";
/** How a read picks among the replicas that may serve it. */
export type StrategyName =
  "round-robin" | "weighted" | "least-connections" | "lowest-lag";
export const STRATEGIES: readonly StrategyName[] = [
  "round-robin",
  "weighted",
  "least-connections",
  "lowest-lag",
];

/** One replica of a cluster. `url` holds credentials: never log or return it. */
export interface ReplicaConfig {
  readonly name: string;
  readonly url: string;
  /** Relative share of reads under the `weighted` strategy (default 1). */
  readonly weight: number;
  /** Availability zone or region (READ_REPLICA_ZONES); null/absent = unknown. */
  readonly zone?: string | null;
}

/** A primary and its streaming replicas. */
export interface ClusterConfig {
  readonly name: string;
  readonly primaryUrl: string;
  readonly replicas: readonly ReplicaConfig[];
  /** Zone of the primary (PRIMARY_ZONE / DB_CLUSTERS.<name>.primaryZone); shown, not routed on. */
  readonly primaryZone?: string | null;
}

/** Orgs `minOrgId..maxOrgId` (inclusive) live on `cluster`. */
export interface OrgRangeConfig {
  readonly minOrgId: number;
  readonly maxOrgId: number;
  readonly cluster: string;
}

/** Limits applied to every node's `pg` pool. */
export interface PoolConfig {
  readonly maxConnections: number;
  readonly minConnections: number;
  readonly idleTimeoutMs: number;
  readonly maxLifetimeMs: number;
  readonly connectionTimeoutMs: number;
  readonly queryTimeoutMs: number;
  /** Prefix of `application_name` on every connection (`<prefix>:<node>`), to find them in pg_stat_activity. */
  readonly applicationName: string;
  /** Request-path statements that may wait for a connection, per node (DB_POOL_QUEUE_MAX). */
  readonly queueMax: number;
  /** Longest wait for a connection before 503 (DB_POOL_QUEUE_TIMEOUT, ms). */
  readonly queueTimeoutMs: number;
}

/** Everything the router needs; parsed once and frozen. */
export interface RouterConfig {
  readonly clusters: readonly ClusterConfig[];
  readonly orgRanges: readonly OrgRangeConfig[];
  readonly useReadReplicas: boolean;
  readonly strategy: StrategyName;
  readonly healthCheckIntervalMs: number;
  readonly lagPollIntervalMs: number;
  /**
   * How often every serving replica is asked `pg_is_in_recovery()`, so a
   * promoted one stops serving within about this long (REPLICA_ROLE_CHECK_INTERVAL, ms).
   */
  readonly roleCheckIntervalMs: number;
  readonly lagWarningSeconds: number;
  readonly lagCriticalSeconds: number;
  /** Replicas further behind than this stop serving reads; null = no bound. */
  readonly maxLagSeconds: number | null;
  readonly maxLagBytes: number | null;
  readonly failureThreshold: number;
  readonly breakerOpenDurationMs: number;
  readonly breakerSuccessThreshold: number;
  readonly readYourWritesMaxWaitMs: number;
  /** Endpoints allowed to read from replicas; null = all not disabled. */
  readonly enabledEndpoints: readonly string[] | null;
  readonly disabledEndpoints: readonly string[];
  readonly maxConcurrentQueriesPerUser: number | null;
  readonly maxConcurrentQueriesPerOrg: number | null;
  readonly capWaitMs: number;
  /**
   * CALLER_PRIMARY_READS: reads sent to the primary because of the
   * consistency the caller asked for (strong, a bound or a token no replica
   * meets): `allow`, `refuse`, or at most this many at once per user.
   */
  readonly callerPrimaryReads: "allow" | "refuse" | number;
  /** DEFAULT_READ_CONSISTENCY: the consistency of a read that names none. */
  readonly defaultConsistency: Consistency;
  /** READ_CONSISTENCY_ENDPOINTS: that default, per endpoint. */
  readonly endpointConsistency: ReadonlyMap<string, Consistency>;
  /**
   * VOLATILE user functions known to only read (READ_ONLY_FUNCTIONS), lower-case
   * `name` or `schema.name`: raw SQL calling them may go to a replica.
   */
  readonly readOnlyFunctions: readonly string[];
  /**
   * REPLICA_HOST_ALLOWLIST: host patterns (`*` = any run of characters) a
   * replica added at run time must match; empty = any host.
   */
  readonly replicaHostAllowlist: readonly string[];
  /** REPLICA_SSL_ROOT_CERT: the CA bundle (a path) run-time replicas are verified with; null = none. */
  readonly replicaSslRootCert: string | null;
  readonly pool: PoolConfig;
  /** Hedged replica reads (REPLICA_HEDGE_*). */
  readonly hedge: {
    /** Extra read load hedging may add, 0..1; 0 turns hedging off. */
    readonly maxExtraLoad: number;
    readonly minDelayMs: number;
    readonly maxDelayMs: number;
  };
  /**
   * This service's zone (SERVICE_ZONE): reads prefer replicas there and
   * spill to other zones, nearest first, only when none there may serve.
   * Null = no preference (zones are shown, not routed on).
   */
  readonly serviceZone: string | null;
  /** Bounds of a replica's per-attempt deadline (REPLICA_ATTEMPT_DEADLINE_MIN / _MAX). */
  readonly attemptDeadline: { readonly minMs: number; readonly maxMs: number };
  /** The query-result cache (CACHE_*). */
  readonly cache: CacheConfig;
}

/** Settings of the query-result cache. */
export interface CacheConfig {
  /** Global switch (CACHE_ENABLED); the admin API can change it at run time. */
  readonly enabled: boolean;
  /** Bytes the in-process tier may hold (CACHE_MAX_BYTES). */
  readonly maxBytes: number;
  /** Larger values are not cached (CACHE_MAX_ENTRY_BYTES). */
  readonly maxEntryBytes: number;
  /** TTL of the in-process copy when a shared tier is configured (CACHE_LOCAL_TTL, ms). */
  readonly localTtlMs: number;
  /** Longest wait for the shared tier per call before answering from the database (CACHE_TIMEOUT, ms). */
  readonly timeoutMs: number;
  /** Endpoints whose reads never use the cache (CACHE_DISABLED_ENDPOINTS). */
  readonly disabledEndpoints: readonly string[];
}

/** Router config plus the settings of the process that hosts it. */
export interface ServiceConfig {
  readonly router: RouterConfig;
  readonly port: number;
  /** Standalone HTTP listen address (HOST; default 127.0.0.1, this machine only). */
  readonly host: string;
  /** Bearer token of the admin API; null disables every admin route. */
  readonly adminToken: string | null;
  /**
   * MONITORING_TOKEN: when set, every monitoring route but health needs it
   * (or the admin token, or the dashboard's cookie); null = open, with node
   * addresses shown to admin-token holders only.
   */
  readonly monitoringToken: string | null;
  /** Shared cache tier (REDIS_URL); null = in-process tier only. Holds credentials: never log it. */
  readonly redisUrl: string | null;
  /** SESSION_SECRET: signs dashboard sessions; null = a random key per process. Never log it. */
  readonly sessionSecret: string | null;
  /** CURSOR_SECRET: signs list cursors; null = a random key per process. Never log it. */
  readonly cursorSecret: string | null;
  /** SERVICE_VERSION: reported in the fleet heartbeat; null = the package or build version. */
  readonly serviceVersion: string | null;
  /** How admin changes reach every instance (FLEET_*). */
  readonly fleet: FleetConfig;
  /** Who may call the domain endpoints (AUTH, API_KEY_CACHE_TTL). */
  readonly auth: AuthConfig;
}

/** Callers of the domain endpoints (docs/security.md). */
export interface AuthConfig {
  /** `keys`: an API key per request; `off`: everyone is the local developer (never in production). */
  readonly mode: "keys" | "off";
  /** How long an instance trusts a key lookup (a revocation reaches other instances within it). */
  readonly keyCacheTtlMs: number;
}

/**
 * The fleet control plane: where admin changes are kept and how often each
 * instance looks for changes and reports itself (docs/architecture.md,
 * "Fleet control").
 */
export interface FleetConfig {
  /**
   * `database` (default): admin changes are stored on the main cluster's
   * primary and every instance of the fleet follows them. `local`: they
   * change only this instance, in memory, as a single instance needs.
   */
  readonly mode: "database" | "local";
  /** FLEET_NAME: instances with the same name on one primary form one fleet. */
  readonly name: string;
  /** INSTANCE_ID; null = host name, process id and a random suffix. */
  readonly instanceId: string | null;
  /** How often the stored version is checked (the safety net under LISTEN/NOTIFY). */
  readonly pollIntervalMs: number;
  /** How often this instance writes its heartbeat. */
  readonly heartbeatIntervalMs: number;
  /** An instance whose last heartbeat is older than this is shown as gone. */
  readonly instanceTimeoutMs: number;
  /** STORED_URL_KEY (base64): seals stored replica URLs; null = run-time adds refused (database mode). Never log it. */
  readonly urlKey: string | null;
  /** STORED_URL_OLD_KEYS: keys that still open what they sealed. Never log them. */
  readonly oldUrlKeys: readonly string[];
}

/** The name of the cluster built from `DATABASE_URL` / `READ_REPLICA_URLS`. */
export const MAIN_CLUSTER = "main";

/** Start-up failure: `issues` name each bad variable and what is wrong with it. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** True when `text` parses as a postgres:// or postgresql:// URL with a host. */
export function isPostgresUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (
      (u.protocol === "postgres:" || u.protocol === "postgresql:") &&
      u.hostname !== ""
    );
  } catch {
    return false;
  }
}

import { parseReplicaZones, parseZone } from "./zones";
import { ConfigError, type RouterConfig, type ServiceConfig } from "./config";
import {
  deepFreeze,
  parseClusters,
  parseOrgRanges,
  parseReadDefaults,
  parseReadOnlyFunctions,
  parseWeights,
} from "./cluster_settings";
import { envSchema } from "./settings";

/**
 * Parses the service configuration from environment variables (names as in
 * DESIGN.md). Connection strings are checked to be postgres URLs; their
 * values never appear in an error message.
 *
 * @throws {ConfigError} naming every bad variable.
 */
export function loadConfig(
  /** The environment, handed over by an entry point (standalone/main.ts, encore/service.ts). */
  env: Record<string, string | undefined>,
): ServiceConfig {
  const issues: string[] = [];
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      issues.push(`${issue.path.join(".")}: ${issue.message}`);
  }
  const clusters = parseClusters(env, issues);
  const orgRanges = parseOrgRanges(env, clusters, issues);
  if (!parsed.success || issues.length > 0) throw new ConfigError(issues);
  const e = parsed.data;

  const main = clusters[0]!;
  const weights = parseWeights(e.REPLICA_WEIGHTS, main.replicas, issues);
  const zones = parseReplicaZones(
    "READ_REPLICA_ZONES",
    // Not the trimmed `list`: an empty entry keeps its position (no zone).
    (env.READ_REPLICA_ZONES ?? "").trim() === ""
      ? []
      : env.READ_REPLICA_ZONES!.split(",").map((s) => s.trim()),
    main.replicas,
    issues,
  );
  const serviceZone = parseZone("SERVICE_ZONE", env.SERVICE_ZONE, issues);
  const primaryZone = parseZone("PRIMARY_ZONE", env.PRIMARY_ZONE, issues);
  const readDefaults = parseReadDefaults(env, issues);
  const readOnlyFunctions = parseReadOnlyFunctions(
    e.READ_ONLY_FUNCTIONS,
    issues,
  );
  if ((e.DB_MIN_CONNECTIONS ?? 0) > (e.DB_MAX_CONNECTIONS ?? 20)) {
    issues.push(
      `DB_MIN_CONNECTIONS: ${e.DB_MIN_CONNECTIONS} exceeds DB_MAX_CONNECTIONS (${e.DB_MAX_CONNECTIONS})`,
    );
  }
  if (e.REPLICA_LAG_CRITICAL_THRESHOLD < e.REPLICA_LAG_WARNING_THRESHOLD) {
    issues.push(
      "REPLICA_LAG_CRITICAL_THRESHOLD: must not be below REPLICA_LAG_WARNING_THRESHOLD",
    );
  }
  for (const [name, ms] of [
    ["REPLICA_HEALTH_CHECK_INTERVAL", e.REPLICA_HEALTH_CHECK_INTERVAL],
    ["REPLICA_LAG_POLL_INTERVAL", e.REPLICA_LAG_POLL_INTERVAL],
    ["REPLICA_ROLE_CHECK_INTERVAL", e.REPLICA_ROLE_CHECK_INTERVAL],
    ["DB_CONNECTION_TIMEOUT", e.DB_CONNECTION_TIMEOUT],
    ["DB_QUERY_TIMEOUT", e.DB_QUERY_TIMEOUT],
    ["DB_POOL_QUEUE_TIMEOUT", e.DB_POOL_QUEUE_TIMEOUT],
  ] as const) {
    if (ms < 10) issues.push(`${name}: must be at least 10ms`);
  }
  // The deadline is never above the statement timeout. Defaults shrink to
  // fit a short DB_QUERY_TIMEOUT; only values set explicitly are refused.
  const isSet = (name: string) => (env[name] ?? "").trim() !== "";
  if (!isSet("REPLICA_ATTEMPT_DEADLINE_MAX"))
    e.REPLICA_ATTEMPT_DEADLINE_MAX = Math.min(
      e.REPLICA_ATTEMPT_DEADLINE_MAX,
      e.DB_QUERY_TIMEOUT,
    );
  if (!isSet("REPLICA_ATTEMPT_DEADLINE_MIN"))
    e.REPLICA_ATTEMPT_DEADLINE_MIN = Math.min(
      e.REPLICA_ATTEMPT_DEADLINE_MIN,
      e.REPLICA_ATTEMPT_DEADLINE_MAX,
    );
  if (!isSet("REPLICA_HEDGE_MIN_DELAY"))
    e.REPLICA_HEDGE_MIN_DELAY = Math.min(
      e.REPLICA_HEDGE_MIN_DELAY,
      e.REPLICA_HEDGE_MAX_DELAY,
    );
  for (const [lo, hi] of [
    ["REPLICA_HEDGE_MIN_DELAY", "REPLICA_HEDGE_MAX_DELAY"],
    ["REPLICA_ATTEMPT_DEADLINE_MIN", "REPLICA_ATTEMPT_DEADLINE_MAX"],
  ] as const) {
    if (e[lo] > e[hi]) issues.push(`${lo}: must not exceed ${hi}`);
  }
  if (e.CACHE_TIMEOUT < 1 || e.CACHE_TIMEOUT > 5_000)
    issues.push("CACHE_TIMEOUT: must be from 1ms to 5s");
  if (e.CACHE_LOCAL_TTL < 100)
    issues.push("CACHE_LOCAL_TTL: must be at least 100ms");
  if (e.FLEET_POLL_INTERVAL < 100)
    issues.push("FLEET_POLL_INTERVAL: must be at least 100ms");
  if (e.FLEET_HEARTBEAT_INTERVAL < 100)
    issues.push("FLEET_HEARTBEAT_INTERVAL: must be at least 100ms");
  if (e.FLEET_INSTANCE_TIMEOUT < 2 * e.FLEET_HEARTBEAT_INTERVAL)
    issues.push(
      "FLEET_INSTANCE_TIMEOUT: must be at least twice FLEET_HEARTBEAT_INTERVAL, or one late heartbeat marks a live instance gone",
    );
  if (e.REPLICA_ATTEMPT_DEADLINE_MIN < 10)
    issues.push("REPLICA_ATTEMPT_DEADLINE_MIN: must be at least 10ms");
  if (e.REPLICA_ATTEMPT_DEADLINE_MAX > e.DB_QUERY_TIMEOUT)
    issues.push(
      "REPLICA_ATTEMPT_DEADLINE_MAX: must not exceed DB_QUERY_TIMEOUT (the statement timeout)",
    );
  if (e.AUTH === "off" && (env.NODE_ENV ?? "").trim() === "production")
    issues.push(
      "AUTH: `off` serves every caller as the local developer and is refused with NODE_ENV=production; issue API keys instead (docs/security.md)",
    );
  if (issues.length > 0) throw new ConfigError(issues);

  const withWeights = clusters.map((c, i) =>
    i === 0
      ? {
          ...c,
          primaryZone,
          replicas: c.replicas.map((r, j) => ({
            ...r,
            weight: weights[j] ?? 1,
            zone: zones[j] ?? null,
          })),
        }
      : c,
  );
  const router: RouterConfig = {
    clusters: withWeights,
    orgRanges,
    useReadReplicas: e.USE_READ_REPLICAS,
    strategy: e.LOAD_BALANCING_STRATEGY,
    healthCheckIntervalMs: e.REPLICA_HEALTH_CHECK_INTERVAL,
    lagPollIntervalMs: e.REPLICA_LAG_POLL_INTERVAL,
    roleCheckIntervalMs: e.REPLICA_ROLE_CHECK_INTERVAL,
    lagWarningSeconds: e.REPLICA_LAG_WARNING_THRESHOLD / 1000,
    lagCriticalSeconds: e.REPLICA_LAG_CRITICAL_THRESHOLD / 1000,
    maxLagSeconds: e.REPLICA_MAX_LAG_SECONDS / 1000,
    maxLagBytes: e.REPLICA_MAX_LAG_BYTES,
    failureThreshold: e.REPLICA_FAILURE_THRESHOLD ?? 3,
    breakerOpenDurationMs: e.CIRCUIT_BREAKER_OPEN_DURATION,
    breakerSuccessThreshold: e.CIRCUIT_BREAKER_SUCCESS_THRESHOLD ?? 5,
    readYourWritesMaxWaitMs: e.READ_YOUR_WRITES_MAX_WAIT,
    enabledEndpoints:
      e.REPLICA_ENABLED_ENDPOINTS.length > 0
        ? e.REPLICA_ENABLED_ENDPOINTS
        : null,
    disabledEndpoints: e.REPLICA_DISABLED_ENDPOINTS,
    maxConcurrentQueriesPerUser: e.MAX_CONCURRENT_QUERIES_PER_USER,
    maxConcurrentQueriesPerOrg: e.MAX_CONCURRENT_QUERIES_PER_ORG,
    capWaitMs: e.CONCURRENCY_CAP_WAIT,
    defaultConsistency: readDefaults.fallback,
    endpointConsistency: readDefaults.endpoints,
    callerPrimaryReads: /^\d+$/.test(e.CALLER_PRIMARY_READS)
      ? Number(e.CALLER_PRIMARY_READS)
      : (e.CALLER_PRIMARY_READS as "allow" | "refuse"),
    readOnlyFunctions,
    replicaHostAllowlist: e.REPLICA_HOST_ALLOWLIST.map((p) => p.toLowerCase()),
    replicaSslRootCert: e.REPLICA_SSL_ROOT_CERT ?? null,
    pool: {
      maxConnections: e.DB_MAX_CONNECTIONS ?? 20,
      minConnections: e.DB_MIN_CONNECTIONS ?? 0,
      idleTimeoutMs: e.DB_MAX_IDLE_TIME,
      maxLifetimeMs: e.DB_MAX_LIFETIME,
      connectionTimeoutMs: e.DB_CONNECTION_TIMEOUT,
      queryTimeoutMs: e.DB_QUERY_TIMEOUT,
      applicationName: e.DB_APPLICATION_NAME,
      queueMax: e.DB_POOL_QUEUE_MAX ?? 1_000,
      queueTimeoutMs: e.DB_POOL_QUEUE_TIMEOUT,
    },
    serviceZone,
    hedge: {
      maxExtraLoad: e.REPLICA_HEDGE_MAX_EXTRA_LOAD,
      minDelayMs: e.REPLICA_HEDGE_MIN_DELAY,
      maxDelayMs: e.REPLICA_HEDGE_MAX_DELAY,
    },
    attemptDeadline: {
      minMs: e.REPLICA_ATTEMPT_DEADLINE_MIN,
      maxMs: e.REPLICA_ATTEMPT_DEADLINE_MAX,
    },
    cache: {
      enabled: e.CACHE_ENABLED,
      maxBytes: e.CACHE_MAX_BYTES ?? 64 * 1024 * 1024,
      maxEntryBytes: e.CACHE_MAX_ENTRY_BYTES ?? 256 * 1024,
      localTtlMs: e.CACHE_LOCAL_TTL,
      timeoutMs: e.CACHE_TIMEOUT,
      disabledEndpoints: e.CACHE_DISABLED_ENDPOINTS,
    },
  };
  return deepFreeze({
    router,
    port: e.PORT ?? 4000,
    host: e.HOST,
    adminToken: e.ADMIN_TOKEN,
    monitoringToken: e.MONITORING_TOKEN,
    redisUrl: e.REDIS_URL,
    cursorSecret: e.CURSOR_SECRET,
    sessionSecret: e.SESSION_SECRET,
    serviceVersion: e.SERVICE_VERSION ?? null,
    fleet: {
      mode: e.FLEET_CONTROL,
      name: e.FLEET_NAME,
      instanceId: e.INSTANCE_ID ?? null,
      pollIntervalMs: e.FLEET_POLL_INTERVAL,
      heartbeatIntervalMs: e.FLEET_HEARTBEAT_INTERVAL,
      instanceTimeoutMs: e.FLEET_INSTANCE_TIMEOUT,
      urlKey: e.STORED_URL_KEY,
      oldUrlKeys: e.STORED_URL_OLD_KEYS,
    },
    auth: { mode: e.AUTH, keyCacheTtlMs: e.API_KEY_CACHE_TTL },
  });
}

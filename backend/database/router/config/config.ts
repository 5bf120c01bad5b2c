import { z } from "zod";
import { parseDurationMs } from "../support/duration";
import { parseReplicaZones, parseZone, ZONE_RE } from "./zones";
import { mustRunOnPrimary } from "../sql/primary_only_functions";

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
   * VOLATILE user functions known to only read (READ_ONLY_FUNCTIONS), lower-case
   * `name` or `schema.name`: raw SQL calling them may go to a replica.
   */
  readonly readOnlyFunctions: readonly string[];
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
}

/** Router config plus the settings of the process that hosts it. */
export interface ServiceConfig {
  readonly router: RouterConfig;
  readonly port: number;
  /** Bearer token of the admin API; null disables every admin route. */
  readonly adminToken: string | null;
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

const MAX_DURATION_MS = 24 * 3_600_000;

const duration = (bareUnit: "ms" | "s", fallback: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const ms = parseDurationMs(raw ?? fallback, bareUnit);
      if (ms !== null && ms > MAX_DURATION_MS) {
        // Node timers and PostgreSQL's statement_timeout cannot hold more than
        // 2^31-1 ms; nothing here needs more than a day.
        ctx.addIssue({
          code: "custom",
          message: `must be at most 24h, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      if (ms === null) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration like 250ms, 30s, 10m or 1h, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return ms;
    });

const int = (
  fallback: number | null,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const n = /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({
          code: "custom",
          message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return n;
    });

const bool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const v = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(v)) return true;
      if (["false", "0", "no", "off"].includes(v)) return false;
      ctx.addIssue({
        code: "custom",
        message: `expected true or false, got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    });

const fraction = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const n = /^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 0 && n <= 1)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a fraction from 0 to 1, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return n;
    });

const list = z
  .string()
  .optional()
  .transform((raw) =>
    (raw ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );

const envSchema = z.object({
  USE_READ_REPLICAS: bool(true),
  LOAD_BALANCING_STRATEGY: z
    .enum(STRATEGIES as [StrategyName, ...StrategyName[]])
    .default("round-robin"),
  REPLICA_WEIGHTS: list,
  REPLICA_HEALTH_CHECK_INTERVAL: duration("ms", "30s"),
  REPLICA_LAG_POLL_INTERVAL: duration("ms", "1s"),
  REPLICA_ROLE_CHECK_INTERVAL: duration("ms", "100ms"),
  REPLICA_LAG_WARNING_THRESHOLD: duration("s", "5s"),
  REPLICA_LAG_CRITICAL_THRESHOLD: duration("s", "10s"),
  REPLICA_MAX_LAG_SECONDS: duration("s", "30s"),
  REPLICA_MAX_LAG_BYTES: int(null, 0),
  REPLICA_FAILURE_THRESHOLD: int(3, 1, 1000),
  CIRCUIT_BREAKER_OPEN_DURATION: duration("ms", "30s"),
  CIRCUIT_BREAKER_SUCCESS_THRESHOLD: int(5, 1, 1000),
  READ_YOUR_WRITES_MAX_WAIT: duration("ms", "50ms"),
  REPLICA_ENABLED_ENDPOINTS: list,
  REPLICA_DISABLED_ENDPOINTS: list,
  MAX_CONCURRENT_QUERIES_PER_USER: int(null, 1, 100_000),
  MAX_CONCURRENT_QUERIES_PER_ORG: int(null, 1, 100_000),
  CONCURRENCY_CAP_WAIT: duration("ms", "2s"),
  READ_ONLY_FUNCTIONS: list,
  DB_MAX_CONNECTIONS: int(20, 1, 10_000),
  DB_MIN_CONNECTIONS: int(0, 0, 10_000),
  DB_MAX_IDLE_TIME: duration("ms", "10m"),
  DB_MAX_LIFETIME: duration("ms", "1h"),
  DB_CONNECTION_TIMEOUT: duration("ms", "30s"),
  DB_QUERY_TIMEOUT: duration("ms", "60s"),
  DB_POOL_QUEUE_MAX: int(1_000, 0, 1_000_000),
  DB_POOL_QUEUE_TIMEOUT: duration("ms", "1s"),
  REPLICA_HEDGE_MAX_EXTRA_LOAD: fraction(0.05),
  REPLICA_HEDGE_MIN_DELAY: duration("ms", "10ms"),
  REPLICA_HEDGE_MAX_DELAY: duration("ms", "1s"),
  REPLICA_ATTEMPT_DEADLINE_MIN: duration("ms", "100ms"),
  REPLICA_ATTEMPT_DEADLINE_MAX: duration("ms", "1s"),
  DB_APPLICATION_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, "1-40 characters of A-Z a-z 0-9 _ . -")
    .default("replica-router"),
  PORT: int(4000, 0, 65_535),
  ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === "") return null;
      if (raw.length < 16) {
        ctx.addIssue({
          code: "custom",
          message: "must be at least 16 characters (value not shown)",
        });
        return z.NEVER;
      }
      return raw;
    }),
});

const NAME_RE = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Parses the service configuration from environment variables (names as in
 * DESIGN.md). Connection strings are checked to be postgres URLs; their
 * values never appear in an error message.
 *
 * @throws {ConfigError} naming every bad variable.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
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
  if (e.REPLICA_ATTEMPT_DEADLINE_MIN < 10)
    issues.push("REPLICA_ATTEMPT_DEADLINE_MIN: must be at least 10ms");
  if (e.REPLICA_ATTEMPT_DEADLINE_MAX > e.DB_QUERY_TIMEOUT)
    issues.push(
      "REPLICA_ATTEMPT_DEADLINE_MAX: must not exceed DB_QUERY_TIMEOUT (the statement timeout)",
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
    readOnlyFunctions,
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
  };
  return deepFreeze({
    router,
    port: e.PORT ?? 4000,
    adminToken: e.ADMIN_TOKEN,
  });
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

function parseClusters(
  env: Record<string, string | undefined>,
  issues: string[],
): ClusterConfig[] {
  const primaryUrl = env.DATABASE_URL ?? "";
  if (primaryUrl === "")
    issues.push(
      "DATABASE_URL: is required (postgres://user:password@host:port/db)",
    );
  else if (!isPostgresUrl(primaryUrl))
    issues.push("DATABASE_URL: not a postgres:// URL (value not shown)");

  let replicaUrls: string[];
  let source: string;
  if (
    env.READ_REPLICA_URLS !== undefined &&
    env.READ_REPLICA_URLS.trim() !== ""
  ) {
    replicaUrls = env.READ_REPLICA_URLS.split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    source = "READ_REPLICA_URLS";
  } else {
    // READ_REPLICA_<N>_CONNECTION_STRING, in N order; gaps are fine.
    replicaUrls = Object.entries(env)
      .map(
        ([k, v]) =>
          [/^READ_REPLICA_(\d+)_CONNECTION_STRING$/.exec(k)?.[1], v] as const,
      )
      .filter(
        (kv): kv is readonly [string, string] =>
          kv[0] !== undefined && (kv[1] ?? "") !== "",
      )
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, v]) => v.trim());
    source = "READ_REPLICA_<N>_CONNECTION_STRING";
  }
  replicaUrls.forEach((url, i) => {
    if (!isPostgresUrl(url))
      issues.push(
        `${source}[${i + 1}]: not a postgres:// URL (value not shown)`,
      );
  });
  const clusters: ClusterConfig[] = [
    {
      name: MAIN_CLUSTER,
      primaryUrl,
      replicas: replicaUrls.map((url, i) => ({
        name: `replica_${i + 1}`,
        url,
        weight: 1,
      })),
    },
  ];

  const extra = parseJson(env, "DB_CLUSTERS", issues);
  if (extra !== undefined) {
    const schema = z.record(
      z
        .string()
        .regex(NAME_RE, "cluster names are lower-case letters, digits and _"),
      z
        .object({
          primaryUrl: z.string(),
          replicaUrls: z.array(z.string()).default([]),
          primaryZone: z.string().regex(ZONE_RE, "not a zone name").optional(),
          replicaZones: z
            .array(z.string().regex(ZONE_RE, "not a zone name"))
            .optional(),
        })
        .strict(),
    );
    const r = schema.safeParse(extra);
    if (!r.success) {
      for (const i of r.error.issues)
        issues.push(`DB_CLUSTERS.${i.path.join(".")}: ${i.message}`);
    } else {
      for (const [name, c] of Object.entries(r.data)) {
        if (name === MAIN_CLUSTER)
          issues.push(
            `DB_CLUSTERS.${name}: "main" is the DATABASE_URL cluster`,
          );
        if (!isPostgresUrl(c.primaryUrl))
          issues.push(`DB_CLUSTERS.${name}.primaryUrl: not a postgres:// URL`);
        c.replicaUrls.forEach((u, i) => {
          if (!isPostgresUrl(u))
            issues.push(
              `DB_CLUSTERS.${name}.replicaUrls[${i}]: not a postgres:// URL`,
            );
        });
        if ((c.replicaZones?.length ?? 0) > c.replicaUrls.length)
          issues.push(
            `DB_CLUSTERS.${name}.replicaZones: more zones than replicaUrls`,
          );
        clusters.push({
          name,
          primaryUrl: c.primaryUrl,
          primaryZone: c.primaryZone ?? null,
          replicas: c.replicaUrls.map((url, i) => ({
            name: `replica_${i + 1}`,
            url,
            weight: 1,
            zone: c.replicaZones?.[i] ?? null,
          })),
        });
      }
    }
  }
  return clusters;
}

function parseOrgRanges(
  env: Record<string, string | undefined>,
  clusters: readonly ClusterConfig[],
  issues: string[],
): OrgRangeConfig[] {
  const raw = parseJson(env, "ORG_RANGES", issues);
  if (raw === undefined)
    return [
      { minOrgId: 0, maxOrgId: Number.MAX_SAFE_INTEGER, cluster: MAIN_CLUSTER },
    ];
  const schema = z.array(
    z
      .object({
        minOrgId: z.number().int().nonnegative(),
        maxOrgId: z.number().int().nonnegative(),
        cluster: z.string(),
      })
      .strict(),
  );
  const r = schema.safeParse(raw);
  if (!r.success) {
    for (const i of r.error.issues)
      issues.push(`ORG_RANGES.${i.path.join(".")}: ${i.message}`);
    return [];
  }
  const names = new Set(clusters.map((c) => c.name));
  r.data.forEach((range, i) => {
    if (!names.has(range.cluster))
      issues.push(
        `ORG_RANGES[${i}].cluster: unknown cluster "${range.cluster}"`,
      );
  });
  return r.data;
}

function parseWeights(
  raw: readonly string[],
  replicas: readonly ReplicaConfig[],
  issues: string[],
): number[] {
  const weights = replicas.map(() => 1);
  raw.forEach((item, i) => {
    const m = /^(?:([a-z0-9_]+)=)?(\d+)$/.exec(item);
    const weight = m ? Number(m[2]) : NaN;
    if (!m || !(weight >= 1 && weight <= 1000)) {
      issues.push(
        `REPLICA_WEIGHTS[${i + 1}]: expected an integer weight 1..1000 or name=weight, got "${item}"`,
      );
      return;
    }
    const index =
      m[1] === undefined ? i : replicas.findIndex((r) => r.name === m[1]);
    if (index < 0 || index >= replicas.length) {
      issues.push(
        `REPLICA_WEIGHTS[${i + 1}]: no replica "${m[1] ?? `#${i + 1}`}" is configured`,
      );
      return;
    }
    weights[index] = weight;
  });
  return weights;
}

const FUNCTION_NAME_RE =
  /^(?:[a-z_][a-z0-9_$]{0,62}\.)?[a-z_][a-z0-9_$]{0,62}$/;

/** READ_ONLY_FUNCTIONS: `name` or `schema.name` each, lower-cased, no built-in the primary must run. */
function parseReadOnlyFunctions(
  raw: readonly string[],
  issues: string[],
): string[] {
  const names: string[] = [];
  raw.forEach((item, i) => {
    const name = item.toLowerCase();
    if (!FUNCTION_NAME_RE.test(name)) {
      issues.push(
        `READ_ONLY_FUNCTIONS[${i + 1}]: expected a function name or schema.name (letters, digits, _ and $; unquoted), got ${JSON.stringify(item)}`,
      );
    } else if (mustRunOnPrimary(name.slice(name.indexOf(".") + 1))) {
      issues.push(
        `READ_ONLY_FUNCTIONS[${i + 1}]: ${name} is named like a built-in that always runs on the primary (a standby refuses it, or it acts on one node's state); it cannot be listed`,
      );
    } else names.push(name);
  });
  return names;
}

function parseJson(
  env: Record<string, string | undefined>,
  name: string,
  issues: string[],
): unknown {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    issues.push(`${name}: not valid JSON`);
    return undefined;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

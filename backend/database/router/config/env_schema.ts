import { z } from "zod";
import { parseDurationMs } from "../support/duration";
import { STRATEGIES, type StrategyName } from "./config";

/*
 * The zod schema of the scalar environment variables: each one parsed,
 * defaulted and range-checked on its own (cross-variable rules and the
 * connection settings are in load_config.ts and cluster_settings.ts).
 */

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

/** A bearer token: unset or empty = none; else at least 16 characters, never echoed. */
const bearerToken = () =>
  z
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

export const envSchema = z.object({
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
  CACHE_ENABLED: bool(true),
  CACHE_MAX_BYTES: int(64 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024),
  CACHE_MAX_ENTRY_BYTES: int(256 * 1024, 1, 64 * 1024 * 1024),
  CACHE_LOCAL_TTL: duration("ms", "5s"),
  CACHE_TIMEOUT: duration("ms", "25ms"),
  CACHE_DISABLED_ENDPOINTS: list,
  REDIS_URL: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return null;
      if (!isRedisUrl(raw.trim())) {
        ctx.addIssue({
          code: "custom",
          message: "not a redis:// or rediss:// URL (value not shown)",
        });
        return z.NEVER;
      }
      return raw.trim();
    }),
  DB_APPLICATION_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, "1-40 characters of A-Z a-z 0-9 _ . -")
    .default("replica-router"),
  PORT: int(4000, 0, 65_535),
  HOST: z
    .string()
    .regex(
      /^[A-Za-z0-9.:-]{1,253}$/,
      "a host name or IP address (e.g. 0.0.0.0 for every interface)",
    )
    .default("127.0.0.1"),
  FLEET_CONTROL: z
    .enum(["database", "local"], { message: "expected database or local" })
    .default("database"),
  FLEET_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,63}$/, "1-63 characters of A-Z a-z 0-9 _ . -")
    .default("default"),
  INSTANCE_ID: z
    .string()
    .regex(
      /^[A-Za-z0-9_.:-]{1,100}$/,
      "1-100 characters of A-Z a-z 0-9 _ . : -",
    )
    .optional(),
  FLEET_POLL_INTERVAL: duration("ms", "1s"),
  FLEET_HEARTBEAT_INTERVAL: duration("ms", "5s"),
  FLEET_INSTANCE_TIMEOUT: duration("ms", "20s"),
  ADMIN_TOKEN: bearerToken(),
  MONITORING_TOKEN: bearerToken(),
});

/** True when `text` parses as a redis:// or rediss:// URL with a host. */
export function isRedisUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (
      (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== ""
    );
  } catch {
    return false;
  }
}

import { z } from "zod";
import { setting } from "./setting";
import {
  aesKeyList,
  duration,
  fraction,
  int,
  list,
  optionalText,
} from "./env_schema";

/** Tuning: zones, shards, health, hedging, pools, caps, cache, fleet timings (the README's second table). */
export const ADVANCED_SETTINGS = {
  SERVICE_ZONE: setting(null, {
    parsedBy: "database/router/config/zones.ts",
    shown: "none",
    unit: "text",
    level: "advanced",
    meaning:
      "this service's zone: reads prefer replicas there, spill to the nearest other zone only when none there may serve",
  }),
  READ_REPLICA_ZONES: setting(null, {
    parsedBy: "database/router/config/zones.ts",
    shown: "none",
    unit: "list",
    level: "advanced",
    meaning:
      "each replica's zone, by position (`eu-west-1a,eu-west-1b`) or `replica_2=eu-west-1b`",
  }),
  PRIMARY_ZONE: setting(null, {
    parsedBy: "database/router/config/zones.ts",
    shown: "none",
    unit: "text",
    level: "advanced",
    meaning: "the primary's zone (shown only)",
  }),
  ORG_RANGES: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "one cluster for all orgs",
    unit: "JSON",
    level: "advanced",
    meaning: "org id ranges and the cluster each maps to",
  }),
  DB_CLUSTERS: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "none",
    unit: "JSON",
    level: "advanced",
    meaning: "the extra clusters `ORG_RANGES` names: primary and replica URLs",
  }),
  REPLICA_HEALTH_CHECK_INTERVAL: setting(duration("30s"), {
    shown: "`30s`",
    unit: "duration",
    level: "advanced",
    meaning: "active probe per node",
  }),
  REPLICA_FAILURE_THRESHOLD: setting(int(3, 1, 1000), {
    shown: "`3`",
    unit: "count",
    level: "advanced",
    meaning:
      "consecutive failures that make a node unhealthy / open its circuit",
  }),
  CIRCUIT_BREAKER_OPEN_DURATION: setting(duration("30s"), {
    shown: "`30s`",
    unit: "duration",
    level: "advanced",
    meaning: "how long an opened circuit stays open before a trial query",
  }),
  CIRCUIT_BREAKER_SUCCESS_THRESHOLD: setting(int(5, 1, 1000), {
    shown: "`5`",
    unit: "count",
    level: "advanced",
    meaning: "successful trial queries that close a half-open circuit",
  }),
  REPLICA_LAG_POLL_INTERVAL: setting(duration("1s"), {
    shown: "`1s`",
    unit: "duration",
    level: "advanced",
    meaning: "lag sampling",
  }),
  REPLICA_ROLE_CHECK_INTERVAL: setting(duration("100ms"), {
    shown: "`100ms`",
    unit: "duration",
    level: "advanced",
    meaning:
      "`SELECT pg_is_in_recovery()` on every healthy replica (≈10 queries/s per replica per process): a promoted replica stops serving within about this long",
  }),
  REPLICA_LAG_WARNING_THRESHOLD: setting(duration("5s", true), {
    shown: "`5s`",
    unit: "duration",
    level: "advanced",
    meaning: "lag status `warning` (write the unit, as for the maximum lag)",
  }),
  REPLICA_LAG_CRITICAL_THRESHOLD: setting(duration("10s", true), {
    shown: "`10s`",
    unit: "duration",
    level: "advanced",
    meaning: "lag status `critical` (write the unit)",
  }),
  REPLICA_HEDGE_MAX_EXTRA_LOAD: setting(fraction(0.05), {
    shown: "`0.05`",
    unit: "fraction",
    level: "advanced",
    meaning:
      "hedged reads: at most this share of extra reads, and a fifth of it for hedges that lose (`0` = off)",
  }),
  REPLICA_HEDGE_MIN_DELAY: setting(duration("10ms"), {
    shown: "`10ms`",
    unit: "duration",
    level: "advanced",
    meaning:
      "a read slower than the recent p99, within the two delays, is hedged to a replica whose median is at most half that; the loser runs to its end and keeps its connection",
  }),
  REPLICA_HEDGE_MAX_DELAY: setting(duration("1s"), {
    shown: "`1s`",
    unit: "duration",
    level: "advanced",
    meaning: "the longest a read waits before it is hedged",
  }),
  REPLICA_ATTEMPT_DEADLINE_MIN: setting(duration("100ms"), {
    shown: "`100ms`",
    unit: "duration",
    level: "advanced",
    meaning:
      "lower bound of 4 × a replica's p99, after which a replica that answers nothing is taken out of rotation",
  }),
  REPLICA_ATTEMPT_DEADLINE_MAX: setting(duration("1s"), {
    shown: "`1s`",
    unit: "duration",
    level: "advanced",
    meaning: "upper bound of the same (at most `DB_QUERY_TIMEOUT`)",
  }),
  READ_ONLY_FUNCTIONS: setting(list, {
    shown: "none",
    unit: "list",
    level: "advanced",
    meaning:
      "VOLATILE user functions that only read (`name` or `schema.name`): raw SQL calling them may use replicas",
  }),
  REPLICA_HOST_ALLOWLIST: setting(list, {
    shown: "any host",
    unit: "list",
    level: "advanced",
    meaning:
      "hosts a replica added at run time (admin API) may be on, e.g. `*.db.internal,10.0.2.*`",
  }),
  REPLICA_SSL_ROOT_CERT: setting(
    optionalText(/^\/[^\0]{0,4095}$/, "an absolute path of a CA bundle file"),
    {
      shown: "none",
      unit: "text",
      level: "advanced",
      meaning:
        "CA bundle (absolute path) that verifies replicas added at run time, given as their `sslrootcert` (the API refuses file parameters); use with `sslmode=verify-full` in their URL",
    },
  ),
  DB_MIN_CONNECTIONS: setting(int(0, 0, 10_000), {
    shown: "`0`",
    unit: "count",
    level: "advanced",
    meaning: "connections kept open per node",
  }),
  DB_MAX_IDLE_TIME: setting(duration("10m"), {
    shown: "`10m`",
    unit: "duration",
    level: "advanced",
    meaning: "an idle connection is closed after this",
  }),
  DB_MAX_LIFETIME: setting(duration("1h"), {
    shown: "`1h`",
    unit: "duration",
    level: "advanced",
    meaning: "a connection is replaced after this",
  }),
  DB_CONNECTION_TIMEOUT: setting(duration("30s"), {
    shown: "`30s`",
    unit: "duration",
    level: "advanced",
    meaning: "connect timeout",
  }),
  DB_QUERY_TIMEOUT: setting(duration("60s"), {
    shown: "`60s`",
    unit: "duration",
    level: "advanced",
    meaning: "statement timeout",
  }),
  DB_POOL_QUEUE_TIMEOUT: setting(duration("1s"), {
    shown: "`1s`",
    unit: "duration",
    level: "advanced",
    meaning:
      "per node: longest wait for a connection; past it, `503` with `Retry-After: 1`",
  }),
  DB_POOL_QUEUE_MAX: setting(int(1_000, 0, 1_000_000), {
    shown: "`1000`",
    unit: "count",
    level: "advanced",
    meaning:
      "per node: most statements waiting for a connection; past it, `503`",
  }),
  MAX_CONCURRENT_QUERIES_PER_USER: setting(int(null, 1, 100_000), {
    shown: "none",
    unit: "count",
    level: "advanced",
    meaning: "cap per user (the API key's user); past the wait, 429",
  }),
  CALLER_PRIMARY_READS: setting(
    z
      .string()
      .trim()
      .regex(
        /^(allow|refuse|[1-9]\d{0,5})$/,
        "`allow`, `refuse` or a count from 1",
      )
      .default("allow"),
    {
      shown: "`allow`",
      unit: "text",
      level: "advanced",
      meaning:
        "reads a caller sends to the primary by the consistency it asks for (`X-Consistency: strong`, a bound or a token no replica meets): `allow`; `refuse` (strong 403, the others 503 rather than the primary); or a count, the most each user may have at once (past the wait, 429)",
    },
  ),
  API_KEY_CACHE_TTL: setting(duration("5s"), {
    shown: "`5s`",
    unit: "duration",
    level: "advanced",
    meaning:
      "how long an instance trusts its last lookup of an API key: a revoked key stops at once where it was revoked, within this on every other instance",
  }),
  MAX_CONCURRENT_QUERIES_PER_ORG: setting(int(null, 1, 100_000), {
    shown: "none",
    unit: "count",
    level: "advanced",
    meaning: "cap per org; past the wait, 429",
  }),
  CONCURRENCY_CAP_WAIT: setting(duration("2s"), {
    shown: "`2s`",
    unit: "duration",
    level: "advanced",
    meaning: "how long a capped caller waits for a turn",
  }),
  CACHE_DISABLED_ENDPOINTS: setting(list, {
    shown: "none",
    unit: "list",
    level: "advanced",
    meaning: "endpoints whose reads the cache skips",
  }),
  CACHE_MAX_BYTES: setting(int(64 * 1024 * 1024, 0, 64 * 1024 * 1024 * 1024), {
    shown: "64 MiB",
    unit: "bytes",
    level: "advanced",
    meaning: "in-process tier size",
  }),
  CACHE_MAX_ENTRY_BYTES: setting(int(256 * 1024, 1, 64 * 1024 * 1024), {
    shown: "256 KiB",
    unit: "bytes",
    level: "advanced",
    meaning: "largest value cached",
  }),
  CACHE_LOCAL_TTL: setting(duration("5s"), {
    shown: "`5s`",
    unit: "duration",
    level: "advanced",
    meaning: "in-process copy of a shared entry",
  }),
  CACHE_TIMEOUT: setting(duration("25ms"), {
    shown: "`25ms`",
    unit: "duration",
    level: "advanced",
    meaning: "longest wait for the shared tier",
  }),
  FLEET_CONTROL: setting(
    z
      .enum(["database", "local"], { message: "expected database or local" })
      .default("database"),
    {
      shown: "`database`",
      unit: "text",
      level: "advanced",
      meaning:
        "admin changes stored on the primary and followed by every instance of the fleet (`local`: this process only)",
    },
  ),
  STORED_URL_OLD_KEYS: setting(aesKeyList(), {
    shown: "none",
    unit: "list",
    level: "advanced",
    meaning:
      "former `STORED_URL_KEY`s, to open URLs sealed before a rotation (see docs/operations.md)",
  }),
  FLEET_POLL_INTERVAL: setting(duration("1s"), {
    shown: "`1s`",
    unit: "duration",
    level: "advanced",
    meaning: "version check (the safety net under LISTEN/NOTIFY)",
  }),
  FLEET_HEARTBEAT_INTERVAL: setting(duration("5s"), {
    shown: "`5s`",
    unit: "duration",
    level: "advanced",
    meaning: "heartbeat",
  }),
  FLEET_INSTANCE_TIMEOUT: setting(duration("20s"), {
    shown: "`20s`",
    unit: "duration",
    level: "advanced",
    meaning: "after this without a heartbeat an instance is shown gone",
  }),
  INSTANCE_ID: setting(
    optionalText(
      /^[A-Za-z0-9_.:-]{1,100}$/,
      "1-100 characters of A-Z a-z 0-9 _ . : -",
    ),
    {
      shown: "host-pid-random",
      unit: "text",
      level: "advanced",
      meaning: "how this instance appears in the fleet view",
    },
  ),
  SERVICE_VERSION: setting(
    optionalText(
      /^[A-Za-z0-9_.+-]{1,64}$/,
      "1-64 characters of A-Z a-z 0-9 _ . + -",
    ),
    {
      shown: "package version",
      unit: "text",
      level: "advanced",
      meaning:
        "the version this instance reports in its heartbeat (a build id or git revision)",
    },
  ),
  DB_APPLICATION_NAME: setting(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,40}$/, "1-40 characters of A-Z a-z 0-9 _ . -")
      .default("replica-router"),
    {
      shown: "`replica-router`",
      unit: "text",
      level: "advanced",
      meaning:
        "`application_name` prefix (`<prefix>:<node>`) to find connections in `pg_stat_activity`",
    },
  ),
} as const;

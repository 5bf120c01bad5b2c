import { z } from "zod";
import { setting } from "./setting";
import { STRATEGIES, type StrategyName } from "./config";
import {
  aesKey,
  bearerToken,
  bool,
  duration,
  int,
  list,
  redisUrl,
  secretText,
} from "./env_schema";

/** The settings most deployments set (the README's first table). */
export const BASIC_SETTINGS = {
  DATABASE_URL: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "(local cluster)",
    unit: "url",
    level: "basic",
    meaning:
      "the primary; unset, `npm start` starts a local primary + 2 replicas",
  }),
  READ_REPLICA_URLS: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "none",
    unit: "list",
    level: "basic",
    meaning:
      "replicas, comma-separated (or `READ_REPLICA_<N>_CONNECTION_STRING` each), named `replica_1..N`",
  }),
  USE_READ_REPLICAS: setting(bool(true), {
    shown: "`true`",
    unit: "boolean",
    level: "basic",
    meaning: "global switch; `false` sends every read to the primary",
  }),
  LOAD_BALANCING_STRATEGY: setting(
    z
      .enum(STRATEGIES as [StrategyName, ...StrategyName[]])
      .default("round-robin"),
    {
      shown: "`round-robin`",
      unit: "text",
      level: "basic",
      meaning:
        "or `weighted` (with `REPLICA_WEIGHTS`), `least-connections`, `lowest-lag`",
    },
  ),
  REPLICA_WEIGHTS: setting(list, {
    shown: "none",
    unit: "list",
    level: "basic",
    meaning: "`weighted` strategy: one weight per replica, by position (`3,1`)",
  }),
  REPLICA_MAX_LAG_SECONDS: setting(duration("30s", true), {
    shown: "`30s`",
    unit: "duration",
    level: "basic",
    meaning:
      "beyond this lag a replica stops serving reads (write the unit: a bare number is refused, it meant seconds in earlier versions)",
  }),
  REPLICA_MAX_LAG_BYTES: setting(int(null, 0), {
    shown: "none",
    unit: "bytes",
    level: "basic",
    meaning: "beyond this much WAL not replayed a replica stops serving reads",
  }),
  READ_YOUR_WRITES_MAX_WAIT: setting(duration("50ms"), {
    shown: "`50ms`",
    unit: "duration",
    level: "basic",
    meaning: "how long a token read may wait for a replica to catch up",
  }),
  REPLICA_ENABLED_ENDPOINTS: setting(list, {
    shown: "all",
    unit: "list",
    level: "basic",
    meaning:
      "only these endpoints read from replicas, e.g. `finance.listRevenues`",
  }),
  DEFAULT_READ_CONSISTENCY: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "`eventual`",
    unit: "text",
    level: "basic",
    meaning:
      "consistency of a read that asks for none (`strong`, `eventual` or `bounded=<seconds>`); `strong` sends them all to the primary, to adopt replicas endpoint by endpoint",
  }),
  READ_CONSISTENCY_ENDPOINTS: setting(null, {
    parsedBy: "database/router/config/cluster_settings.ts",
    shown: "none",
    unit: "list",
    level: "basic",
    meaning:
      "per-endpoint defaults, `endpoint=level` comma-separated (`finance.listRevenues=eventual`)",
  }),
  REPLICA_DISABLED_ENDPOINTS: setting(list, {
    shown: "none",
    unit: "list",
    level: "basic",
    meaning: "these endpoints read from the primary",
  }),
  DB_MAX_CONNECTIONS: setting(int(20, 1, 10_000), {
    shown: "`20`",
    unit: "count",
    level: "basic",
    meaning: "pool size per node",
  }),
  CACHE_ENABLED: setting(bool(true), {
    shown: "`true`",
    unit: "boolean",
    level: "basic",
    meaning:
      "the query-result cache for reads repositories mark cacheable ([docs/cache.md](docs/cache.md))",
  }),
  REDIS_URL: setting(redisUrl(), {
    shown: "none",
    unit: "url",
    level: "basic",
    meaning:
      "the cache's shared tier (every instance sees every write); never logged",
  }),
  AUTH: setting(z.enum(["keys", "off"]).default("keys"), {
    shown: "`keys`",
    unit: "text",
    level: "basic",
    meaning:
      "domain endpoints need an API key (`Authorization: Bearer rrk_...`, issued by the admin API; `npm start` prints a development key); `off` serves every caller as the local developer with every org, for local use only: refused with `NODE_ENV=production`",
  }),
  NODE_ENV: setting(null, {
    parsedBy: "database/router/config/load_config.ts",
    shown: "none",
    unit: "text",
    level: "basic",
    meaning: "`production` refuses `AUTH=off`",
  }),
  ADMIN_TOKEN: setting(bearerToken(), {
    shown: "unset = admin API disabled",
    unit: "text",
    level: "basic",
    meaning: "bearer token of the admin routes (≥ 16 chars)",
  }),
  MONITORING_TOKEN: setting(bearerToken(), {
    shown: "unset = monitoring open",
    unit: "text",
    level: "basic",
    meaning:
      "when set, every monitoring route but `/health` needs it (≥ 16 chars; bearer, or the dashboard's login); unset, they stay open but node addresses are shown only to admin-token holders",
  }),
  CURSOR_SECRET: setting(secretText(), {
    shown: "random per process",
    unit: "text",
    level: "basic",
    meaning:
      "signs pagination cursors (≥ 16 chars); set the same value on every instance",
  }),
  SESSION_SECRET: setting(secretText(), {
    shown: "random per process",
    unit: "text",
    level: "basic",
    meaning:
      "signs the dashboard's session cookies (≥ 16 chars); set the same value on every instance, or a login lasts until a restart and holds on one instance only",
  }),
  STORED_URL_KEY: setting(aesKey(), {
    shown: "none",
    unit: "text",
    level: "basic",
    meaning:
      "seals (AES-256-GCM) the URLs of replicas added through the admin API, which the fleet stores on the primary; without it such adds are refused; 32 bytes, base64 (`openssl rand -base64 32`), the same on every instance",
  }),
  FLEET_NAME: setting(
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,63}$/, "1-63 characters of A-Z a-z 0-9 _ . -")
      .default("default"),
    {
      shown: "`default`",
      unit: "text",
      level: "basic",
      meaning:
        "instances with the same name on one primary share admin changes ([docs/operations.md](docs/operations.md#fleet-control))",
    },
  ),
  PORT: setting(int(4000, 0, 65_535), {
    shown: "`4000`",
    unit: "count",
    level: "basic",
    meaning: "standalone HTTP port",
  }),
  HOST: setting(
    z
      .string()
      .regex(
        /^[A-Za-z0-9.:-]{1,253}$/,
        "a host name or IP address (e.g. 0.0.0.0 for every interface)",
      )
      .default("127.0.0.1"),
    {
      shown: "`127.0.0.1`",
      unit: "text",
      level: "basic",
      meaning:
        "standalone listen address (`0.0.0.0`: every interface, e.g. in a container)",
    },
  ),
  LOCAL_CLUSTER_DIR: setting(null, {
    parsedBy: "standalone/main.ts",
    shown: "`.data/cluster`",
    unit: "text",
    level: "basic",
    meaning:
      "where `npm start` keeps its local cluster when `DATABASE_URL` is unset",
  }),
} as const;

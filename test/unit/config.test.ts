/**
 * Start-up configuration: loadConfig rejects bad values with a ConfigError
 * naming the variable (never echoing a connection string or its password),
 * and accepts the documented duration forms.
 */
import { describe, expect, it } from "vitest";
import { configError } from "./helpers/config_error";
import { loadConfig } from "../../backend/database/router/config/load_config";

const BASE = {
  DATABASE_URL: "postgres://app:PrimaryPw123@db.example:5432/app",
  READ_REPLICA_URLS:
    "postgres://ro:ReplicaPw123@r1.example:5432/app,postgres://ro:ReplicaPw123@r2.example:5432/app",
};

describe("loadConfig rejects bad values, naming the variable", () => {
  it.each([
    ["REPLICA_HEALTH_CHECK_INTERVAL", "abc"],
    ["REPLICA_HEALTH_CHECK_INTERVAL", "-5s"],
    ["REPLICA_HEALTH_CHECK_INTERVAL", "0"],
    ["REPLICA_LAG_POLL_INTERVAL", "1 fortnight"],
    ["DB_CONNECTION_TIMEOUT", "30 seconds"],
    ["DB_MAX_IDLE_TIME", "ten minutes"],
    ["DB_MAX_CONNECTIONS", "0"],
    ["DB_MAX_CONNECTIONS", "many"],
    ["DB_MAX_CONNECTIONS", "2.5"],
    ["DB_MIN_CONNECTIONS", "-1"],
    ["LOAD_BALANCING_STRATEGY", "random"],
    ["USE_READ_REPLICAS", "maybe"],
    ["REPLICA_FAILURE_THRESHOLD", "0"],
    ["PORT", "70000"],
    ["HOST", "my host"],
    ["ADMIN_TOKEN", "short"],
    ["FLEET_CONTROL", "redis"],
    ["FLEET_NAME", "my fleet"],
    ["INSTANCE_ID", "a/b"],
    ["FLEET_POLL_INTERVAL", "50ms"],
    ["FLEET_HEARTBEAT_INTERVAL", "often"],
    ["FLEET_INSTANCE_TIMEOUT", "9s"],
  ])("%s=%s", (name, value) => {
    const err = configError({ ...BASE, [name]: value });
    expect(err.message).toContain(name);
    expect(
      err.issues.some(
        (i) => i.startsWith(`${name}:`) || i.startsWith(`${name}[`),
      ),
      err.message,
    ).toBe(true);
  });

  it("fleet settings default to the database control plane, fleet `default`", () => {
    expect(loadConfig(BASE).fleet).toEqual({
      mode: "database",
      name: "default",
      instanceId: null,
      pollIntervalMs: 1_000,
      heartbeatIntervalMs: 5_000,
      instanceTimeoutMs: 20_000,
      urlKey: null,
      oldUrlKeys: [],
    });
  });

  it("STORED_URL_KEY: 32 bytes in base64, or the start-up error does not show it", () => {
    const key = Buffer.alloc(32, 3).toString("base64");
    expect(loadConfig({ ...BASE, STORED_URL_KEY: key }).fleet.urlKey).toBe(key);
    const err = configError({ ...BASE, STORED_URL_KEY: "c2hvcnQta2V5" });
    expect(err.message).toContain("STORED_URL_KEY: must be 32 bytes");
    expect(err.message).not.toContain("c2hvcnQta2V5");
  });

  it("ADMIN_TOKEN=short: the value itself is not shown", () => {
    const err = configError({ ...BASE, ADMIN_TOKEN: "hunter2pw" });
    expect(err.message).toContain("ADMIN_TOKEN");
    expect(err.message).not.toContain("hunter2pw");
  });

  it("DB_MIN_CONNECTIONS above DB_MAX_CONNECTIONS", () => {
    const err = configError({
      ...BASE,
      DB_MAX_CONNECTIONS: "5",
      DB_MIN_CONNECTIONS: "6",
    });
    expect(err.message).toContain("DB_MIN_CONNECTIONS");
  });

  it("REPLICA_LAG_CRITICAL_THRESHOLD below the warning threshold", () => {
    const err = configError({
      ...BASE,
      REPLICA_LAG_WARNING_THRESHOLD: "10s",
      REPLICA_LAG_CRITICAL_THRESHOLD: "5s",
    });
    expect(err.message).toContain("REPLICA_LAG_CRITICAL_THRESHOLD");
  });

  it("missing DATABASE_URL", () => {
    const err = configError({ READ_REPLICA_URLS: BASE.READ_REPLICA_URLS });
    expect(err.message).toContain("DATABASE_URL");
    expect(configError({ DATABASE_URL: "" }).message).toContain("DATABASE_URL");
  });

  it("a non-URL DATABASE_URL is named, its password not shown", () => {
    const err = configError({
      DATABASE_URL: "app:TopSecretPw@db.example:5432/app",
    });
    expect(err.message).toContain("DATABASE_URL");
    expect(err.message).not.toContain("TopSecretPw");
    expect(err.message).not.toContain("db.example");
  });

  it.each([
    ["no scheme", "ro:TopSecretPw@r2.example:5432/app"],
    ["wrong scheme", "mysql://ro:TopSecretPw@r2.example:3306/app"],
    ["garbage", "TopSecretPw not a url at all"],
  ])(
    "a non-URL READ_REPLICA_URLS entry (%s) is named, its password not shown",
    (_label, bad) => {
      const err = configError({
        DATABASE_URL: BASE.DATABASE_URL,
        READ_REPLICA_URLS: `postgres://ro:ReplicaPw123@r1.example:5432/app,${bad}`,
      });
      expect(err.message).toContain("READ_REPLICA_URLS");
      expect(err.message).toMatch(/READ_REPLICA_URLS\[2\]/); // which entry
      expect(err.message).not.toContain("TopSecretPw");
      expect(err.message).not.toContain("ReplicaPw123");
      expect(err.message).not.toContain("PrimaryPw123");
    },
  );

  it("a non-URL READ_REPLICA_<N>_CONNECTION_STRING is named, its password not shown", () => {
    const err = configError({
      DATABASE_URL: BASE.DATABASE_URL,
      READ_REPLICA_1_CONNECTION_STRING: "ro:TopSecretPw@@nowhere",
    });
    expect(err.message).toContain("READ_REPLICA_<N>_CONNECTION_STRING");
    expect(err.message).not.toContain("TopSecretPw");
  });

  // PRODUCT BUG (backend/database/router/config/ `duration()` + router/support/duration.ts
  // parseDurationMs: no upper bound). Durations above 2^31-1 ms (~596h) are accepted,
  // but nothing downstream can hold them: Node's setTimeout/setInterval replace them
  // with 1 ms (TimeoutOverflowWarning), and PostgreSQL rejects statement_timeout
  // above 2147483647. Verified against a real cluster:
  //   DB_QUERY_TIMEOUT=1000h      -> every statement fails: invalid value for parameter "statement_timeout"
  //   DB_CONNECTION_TIMEOUT=1000h -> every query fails: "Connection terminated due to connection timeout" (pg timer = 1 ms)
  //   REPLICA_HEALTH_CHECK_INTERVAL=1000h -> health probes back to back (~480 transactions/s on an idle primary)
  //   DB_MAX_IDLE_TIME / DB_MAX_LIFETIME=1000h -> pg-pool timers of 1 ms: connections dropped at once
  // DESIGN.md: "A bad value stops start-up with a message naming the variable".
  // These tests fail until loadConfig rejects such values.
  it.each([
    "REPLICA_HEALTH_CHECK_INTERVAL",
    "REPLICA_LAG_POLL_INTERVAL",
    "DB_CONNECTION_TIMEOUT",
    "DB_QUERY_TIMEOUT",
    "DB_MAX_IDLE_TIME",
    "DB_MAX_LIFETIME",
    "CONCURRENCY_CAP_WAIT",
  ])("%s=1000h (beyond a 32-bit millisecond timer) is rejected", (name) => {
    const err = configError({ ...BASE, [name]: "1000h" });
    expect(err.message).toContain(name);
  });

  it("reports every bad variable at once", () => {
    const err = configError({
      ...BASE,
      DB_MAX_CONNECTIONS: "0",
      LOAD_BALANCING_STRATEGY: "random",
      REPLICA_HEALTH_CHECK_INTERVAL: "abc",
    });
    for (const name of [
      "DB_MAX_CONNECTIONS",
      "LOAD_BALANCING_STRATEGY",
      "REPLICA_HEALTH_CHECK_INTERVAL",
    ]) {
      expect(err.message).toContain(name);
    }
  });
});

describe("loadConfig accepts", () => {
  it("the defaults of DESIGN.md", () => {
    const c = loadConfig(BASE);
    expect(c.port).toBe(4000);
    expect(c.adminToken).toBeNull();
    expect(c.router.useReadReplicas).toBe(true);
    expect(c.router.strategy).toBe("round-robin");
    expect(c.router.healthCheckIntervalMs).toBe(30_000);
    expect(c.router.lagWarningSeconds).toBe(5);
    expect(c.router.lagCriticalSeconds).toBe(10);
    expect(c.router.pool).toMatchObject({
      maxConnections: 20,
      minConnections: 0,
      idleTimeoutMs: 600_000,
      maxLifetimeMs: 3_600_000,
      connectionTimeoutMs: 30_000,
      queryTimeoutMs: 60_000,
    });
    expect(c.router.clusters[0]!.replicas.map((r) => r.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    expect(Object.isFrozen(c.router.pool)).toBe(true);
  });

  it("durations written as 30s, 250ms, 10m and 1h", () => {
    const c = loadConfig({
      ...BASE,
      DB_CONNECTION_TIMEOUT: "30s",
      REPLICA_HEALTH_CHECK_INTERVAL: "250ms",
      DB_MAX_IDLE_TIME: "10m",
      DB_MAX_LIFETIME: "1h",
      REPLICA_LAG_POLL_INTERVAL: "1s",
      DB_QUERY_TIMEOUT: "2m",
    });
    expect(c.router.pool.connectionTimeoutMs).toBe(30_000);
    expect(c.router.healthCheckIntervalMs).toBe(250);
    expect(c.router.pool.idleTimeoutMs).toBe(600_000);
    expect(c.router.pool.maxLifetimeMs).toBe(3_600_000);
    expect(c.router.lagPollIntervalMs).toBe(1_000);
    expect(c.router.pool.queryTimeoutMs).toBe(120_000);
  });

  it("bare numbers as milliseconds; the lag thresholds with their unit", () => {
    const c = loadConfig({
      ...BASE,
      REPLICA_HEALTH_CHECK_INTERVAL: "30000",
      REPLICA_LAG_WARNING_THRESHOLD: "3s",
      REPLICA_LAG_CRITICAL_THRESHOLD: "8000ms",
    });
    expect(c.router.healthCheckIntervalMs).toBe(30_000);
    expect(c.router.lagWarningSeconds).toBe(3);
    expect(c.router.lagCriticalSeconds).toBe(8);
  });

  it("SERVICE_VERSION and INSTANCE_ID: trimmed, blank means unset, anything else must match", () => {
    const blank = loadConfig({
      ...BASE,
      SERVICE_VERSION: "",
      INSTANCE_ID: " ",
    });
    expect(blank.serviceVersion).toBeNull();
    expect(blank.fleet.instanceId).toBeNull();
    expect(
      loadConfig({ ...BASE, SERVICE_VERSION: " v1.2.3+build.7 " })
        .serviceVersion,
    ).toBe("v1.2.3+build.7");
    expect(
      configError({ ...BASE, SERVICE_VERSION: "v1 beta" }).message,
    ).toContain("SERVICE_VERSION");
  });

  it("valid numbers, strategies, a 16-character ADMIN_TOKEN and PORT=0", () => {
    const c = loadConfig({
      ...BASE,
      DB_MAX_CONNECTIONS: "7",
      LOAD_BALANCING_STRATEGY: "least-connections",
      ADMIN_TOKEN: "0123456789abcdef",
      PORT: "0",
      USE_READ_REPLICAS: "false",
    });
    expect(c.router.pool.maxConnections).toBe(7);
    expect(c.router.strategy).toBe("least-connections");
    expect(c.adminToken).toBe("0123456789abcdef");
    expect(c.port).toBe(0);
    expect(c.router.useReadReplicas).toBe(false);
  });

  it("READ_REPLICA_<N>_CONNECTION_STRING in N order", () => {
    const c = loadConfig({
      DATABASE_URL: BASE.DATABASE_URL,
      READ_REPLICA_2_CONNECTION_STRING: "postgres://ro@r2.example/app",
      READ_REPLICA_1_CONNECTION_STRING: "postgres://ro@r1.example/app",
    });
    expect(c.router.clusters[0]!.replicas.map((r) => r.url)).toEqual([
      "postgres://ro@r1.example/app",
      "postgres://ro@r2.example/app",
    ]);
  });
});

describe("READ_ONLY_FUNCTIONS", () => {
  it("is empty by default and takes name or schema.name, lower-cased", () => {
    expect(loadConfig(BASE).router.readOnlyFunctions).toEqual([]);
    const c = loadConfig({
      ...BASE,
      READ_ONLY_FUNCTIONS: " report_totals, Billing.Charge_Preview ,",
    });
    expect(c.router.readOnlyFunctions).toEqual([
      "report_totals",
      "billing.charge_preview",
    ]);
  });

  it.each([
    ["bad name", "report totals", "expected a function name or schema.name"],
    ["three parts", "db.billing.charge", "expected a function name"],
    ["quoted", '"Report"', "expected a function name"],
    ["built-in the primary must run", "pg_catalog.nextval", "nextval"],
    ["recovery-refusing built-in", "gin_clean_pending_list", "always runs"],
  ])("rejects a %s, naming the variable and entry", (_what, value, text) => {
    const err = configError({ ...BASE, READ_ONLY_FUNCTIONS: `ok_fn,${value}` });
    expect(err.message).toContain("READ_ONLY_FUNCTIONS[2]");
    expect(err.message).toContain(text);
  });
});

describe("REPLICA_ROLE_CHECK_INTERVAL", () => {
  it("defaults to 100 ms and takes a duration", () => {
    expect(loadConfig(BASE).router.roleCheckIntervalMs).toBe(100);
    const c = loadConfig({ ...BASE, REPLICA_ROLE_CHECK_INTERVAL: "250ms" });
    expect(c.router.roleCheckIntervalMs).toBe(250);
  });

  it.each(["0", "5ms", "fast", "1000h"])(
    "rejects %s, naming the variable",
    (value) => {
      const err = configError({ ...BASE, REPLICA_ROLE_CHECK_INTERVAL: value });
      expect(
        err.issues.some((i) => i.startsWith("REPLICA_ROLE_CHECK_INTERVAL:")),
        err.message,
      ).toBe(true);
    },
  );
});

describe("per-attempt deadline and the statement timeout", () => {
  const base = { DATABASE_URL: "postgres://app@127.0.0.1:5432/app" };
  it("defaults shrink to fit a short DB_QUERY_TIMEOUT (a config that started before still starts)", () => {
    const c = loadConfig({ ...base, DB_QUERY_TIMEOUT: "500ms" }).router;
    expect(c.attemptDeadline).toEqual({ minMs: 100, maxMs: 500 });
    const tiny = loadConfig({ ...base, DB_QUERY_TIMEOUT: "50ms" }).router;
    expect(tiny.attemptDeadline).toEqual({ minMs: 50, maxMs: 50 });
  });
  it("an explicit REPLICA_ATTEMPT_DEADLINE_MAX above DB_QUERY_TIMEOUT is refused, naming it", () => {
    expect(() =>
      loadConfig({
        ...base,
        DB_QUERY_TIMEOUT: "500ms",
        REPLICA_ATTEMPT_DEADLINE_MAX: "2s",
      }),
    ).toThrow(/REPLICA_ATTEMPT_DEADLINE_MAX: must not exceed DB_QUERY_TIMEOUT/);
  });
});

describe("zones", () => {
  const base = {
    DATABASE_URL: "postgres://app@127.0.0.1:5432/app",
    READ_REPLICA_URLS:
      "postgres://app@127.0.0.1:5433/app,postgres://app@127.0.0.1:5434/app",
  };
  it("READ_REPLICA_ZONES by position or by name; SERVICE_ZONE and PRIMARY_ZONE", () => {
    const c = loadConfig({
      ...base,
      SERVICE_ZONE: "eu-west-1a",
      PRIMARY_ZONE: "eu-west-1a",
      READ_REPLICA_ZONES: "eu-west-1a,replica_2=eu-west-1b",
    }).router;
    expect(c.serviceZone).toBe("eu-west-1a");
    expect(c.clusters[0]!.primaryZone).toBe("eu-west-1a");
    expect(c.clusters[0]!.replicas.map((r) => r.zone)).toEqual([
      "eu-west-1a",
      "eu-west-1b",
    ]);
  });
  it("an empty entry keeps its place", () => {
    const c = loadConfig({ ...base, READ_REPLICA_ZONES: ",b" }).router;
    expect(c.clusters[0]!.replicas.map((r) => r.zone)).toEqual([null, "b"]);
  });
  it("unset: no preference, no zones (routing as without zones)", () => {
    const c = loadConfig(base).router;
    expect(c.serviceZone).toBeNull();
    expect(c.clusters[0]!.replicas.map((r) => r.zone)).toEqual([null, null]);
  });
  it("bad zone configuration stops start-up naming the variable", () => {
    for (const [env, message] of [
      [{ SERVICE_ZONE: "eu west" }, /SERVICE_ZONE: expected a zone name/],
      [{ PRIMARY_ZONE: "-x/" }, /PRIMARY_ZONE: expected a zone name/],
      [{ READ_REPLICA_ZONES: "a,b,c" }, /READ_REPLICA_ZONES\[3\]: no replica/],
      [
        { READ_REPLICA_ZONES: "replica_9=a" },
        /READ_REPLICA_ZONES\[1\]: no replica "replica_9"/,
      ],
      [
        { READ_REPLICA_ZONES: "a b" },
        /READ_REPLICA_ZONES\[1\]: expected a zone/,
      ],
      [
        { READ_REPLICA_ZONES: "a,replica_1=b" },
        /READ_REPLICA_ZONES\[2\]: replica_1 already has a zone/,
      ],
    ] as const)
      expect(() => loadConfig({ ...base, ...env })).toThrow(message);
  });
});

/**
 * The query cache's settings (CACHE_*, REDIS_URL): loadConfig defaults
 * them, accepts the documented forms, and refuses bad values with a
 * ConfigError naming the variable, never showing a REDIS_URL (it may hold
 * a password).
 */
import { describe, expect, it } from "vitest";
import { configError } from "./helpers/config_error";
import { loadConfig } from "../../backend/database/router/config/load_config";

const BASE = {
  DATABASE_URL: "postgres://app:PrimaryPw123@db.example:5432/app",
};

const cacheOf = (env: Record<string, string>) =>
  loadConfig({ ...BASE, ...env }).router.cache;

describe("cache settings: defaults and accepted forms", () => {
  it("defaults: on, 64 MiB, 256 KiB per entry, 5s local TTL, 25ms timeout, no endpoint off, no Redis", () => {
    const config = loadConfig(BASE);
    expect(config.router.cache).toEqual({
      enabled: true,
      maxBytes: 64 * 1024 * 1024,
      maxEntryBytes: 256 * 1024,
      localTtlMs: 5_000,
      timeoutMs: 25,
      disabledEndpoints: [],
    });
    expect(config.redisUrl).toBeNull();
    expect(Object.isFrozen(config.router.cache)).toBe(true);
    expect(Object.isFrozen(config.router.cache.disabledEndpoints)).toBe(true);
  });

  it.each([
    ["false", false],
    ["0", false],
    ["off", false],
    [" No ", false],
    ["true", true],
    ["1", true],
    ["on", true],
    ["", true],
  ])("CACHE_ENABLED=%j", (value, expected) => {
    expect(cacheOf({ CACHE_ENABLED: value }).enabled).toBe(expected);
  });

  it("sizes in bytes, within their ranges", () => {
    expect(cacheOf({ CACHE_MAX_BYTES: "0" }).maxBytes).toBe(0);
    expect(cacheOf({ CACHE_MAX_BYTES: " 1048576 " }).maxBytes).toBe(1_048_576);
    expect(cacheOf({ CACHE_MAX_BYTES: String(64 * 1024 ** 3) }).maxBytes).toBe(
      64 * 1024 ** 3,
    );
    expect(cacheOf({ CACHE_MAX_ENTRY_BYTES: "1" }).maxEntryBytes).toBe(1);
    expect(
      cacheOf({ CACHE_MAX_ENTRY_BYTES: String(64 * 1024 ** 2) }).maxEntryBytes,
    ).toBe(64 * 1024 ** 2);
    expect(cacheOf({ CACHE_MAX_BYTES: "" }).maxBytes).toBe(64 * 1024 * 1024);
  });

  it.each([
    ["CACHE_LOCAL_TTL", "2s", "localTtlMs", 2_000],
    ["CACHE_LOCAL_TTL", "100ms", "localTtlMs", 100],
    ["CACHE_LOCAL_TTL", "250", "localTtlMs", 250],
    ["CACHE_LOCAL_TTL", "1m", "localTtlMs", 60_000],
    ["CACHE_TIMEOUT", "1ms", "timeoutMs", 1],
    ["CACHE_TIMEOUT", "50", "timeoutMs", 50],
    ["CACHE_TIMEOUT", "5s", "timeoutMs", 5_000],
  ] as const)("%s=%s", (name, value, field, expected) => {
    expect(cacheOf({ [name]: value })[field]).toBe(expected);
  });

  it("CACHE_DISABLED_ENDPOINTS: a comma list, trimmed, empty items dropped", () => {
    expect(
      cacheOf({ CACHE_DISABLED_ENDPOINTS: " finance.sum, invoices.list ,," })
        .disabledEndpoints,
    ).toEqual(["finance.sum", "invoices.list"]);
  });

  it.each([
    "redis://:S3cretPw@cache.example:6379/0",
    "rediss://user:S3cretPw@cache.example:6380",
    "redis://localhost",
  ])("REDIS_URL=%s is kept as given", (url) => {
    expect(loadConfig({ ...BASE, REDIS_URL: ` ${url} ` }).redisUrl).toBe(url);
  });

  it("an empty REDIS_URL means no shared tier", () => {
    expect(loadConfig({ ...BASE, REDIS_URL: "  " }).redisUrl).toBeNull();
  });
});

describe("cache settings: bad values are refused, naming the variable", () => {
  it.each([
    ["CACHE_ENABLED", "maybe"],
    ["CACHE_MAX_BYTES", "-1"],
    ["CACHE_MAX_BYTES", "64MB"],
    ["CACHE_MAX_BYTES", "1.5"],
    ["CACHE_MAX_BYTES", String(64 * 1024 ** 3 + 1)],
    ["CACHE_MAX_ENTRY_BYTES", "0"],
    ["CACHE_MAX_ENTRY_BYTES", String(64 * 1024 ** 2 + 1)],
    ["CACHE_LOCAL_TTL", "99ms"],
    ["CACHE_LOCAL_TTL", "soon"],
    ["CACHE_LOCAL_TTL", "25h"],
    ["CACHE_TIMEOUT", "0"],
    ["CACHE_TIMEOUT", "5001ms"],
    ["CACHE_TIMEOUT", "fast"],
    ["REDIS_URL", "http://cache.example:6379"],
    ["REDIS_URL", "cache.example:6379"],
    ["REDIS_URL", "redis://"],
  ])("%s=%s", (name, value) => {
    const err = configError({ ...BASE, [name]: value });
    expect(err.message).toContain(name);
    expect(
      err.issues.some((i) => i.startsWith(`${name}:`)),
      err.message,
    ).toBe(true);
    expect(err.issues).toHaveLength(1);
  });

  it.each([
    ["wrong scheme", "http://user:RedisTopSecret@cache.internal:6379"],
    ["no scheme", "user:RedisTopSecret@cache.internal:6379"],
    ["no host", "redis://:RedisTopSecret@"],
    ["garbage", "RedisTopSecret cache.internal"],
  ])(
    "a bad REDIS_URL (%s) is named, its password and host not shown",
    (_label, url) => {
      const err = configError({ ...BASE, REDIS_URL: url });
      expect(err.message).toContain("REDIS_URL");
      expect(err.message).not.toContain("RedisTopSecret");
      expect(err.message).not.toContain("cache.internal");
    },
  );

  it("a valid REDIS_URL never appears when another variable is refused", () => {
    const err = configError({
      ...BASE,
      REDIS_URL: "redis://:RedisTopSecret@cache.internal:6379",
      CACHE_TIMEOUT: "0",
      CACHE_LOCAL_TTL: "1ms",
    });
    expect(err.issues.map((i) => i.split(":")[0]).sort()).toEqual([
      "CACHE_LOCAL_TTL",
      "CACHE_TIMEOUT",
    ]);
    expect(err.message).not.toContain("RedisTopSecret");
    expect(err.message).not.toContain("cache.internal");
  });
});

/**
 * EncoreCacheStore over Encore's own keyspace code (the real
 * encore.dev/storage/cache sources: key mapping, expiry sentinels,
 * CacheKeyExists) with only the native runtime replaced: `RT.cacheCluster`
 * returns an in-memory cluster that behaves as Redis does for the commands
 * the runtime sends (runtimes/core/src/cache/client.rs, runtimes/js/src/cache.rs),
 * with a manual clock for expiry.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { SharedStore } from "../../backend/database/router/cache/shared_store";
import {
  clusterGenKey,
  entryKey,
  fenceKey,
  orgTableGenKey,
} from "../../backend/database/router/cache/cache_keys";

/** What the stand-in runtime holds and records. */
const rt = vi.hoisted(() => {
  interface Item {
    value: Buffer;
    expiresAtMs: number | undefined;
  }
  const state = {
    nowMs: 0,
    items: new Map<string, Item>(),
    /** Cluster names asked of the runtime. */
    clusters: [] as string[],
    /** Each native call: its name and the mapped keys it touched. */
    calls: [] as { op: string; keys: string[] }[],
    /** When set, every native call rejects with this error. */
    failure: undefined as Error | undefined,
  };
  const live = (key: string): Item | undefined => {
    const item = state.items.get(key);
    if (item?.expiresAtMs !== undefined && item.expiresAtMs <= state.nowMs) {
      state.items.delete(key);
      return undefined;
    }
    return item;
  };
  // The i64 sentinels of keyspace.ts resolveTtl: undefined = none, -1 = keep, -2 = persist.
  const expiry = (ttlMs: number | null | undefined, previous?: Item) =>
    ttlMs === undefined || ttlMs === null || ttlMs === -1
      ? previous?.expiresAtMs
      : ttlMs === -2
        ? undefined
        : state.nowMs + ttlMs;
  const record = async (op: string, keys: string[]) => {
    state.calls.push({ op, keys });
    if (state.failure !== undefined) throw state.failure;
  };
  const cluster = {
    async get(key: string) {
      await record("get", [key]);
      return live(key)?.value ?? null;
    },
    async set(key: string, value: Buffer, ttlMs?: number | null) {
      await record("set", [key]);
      // SET without KEEPTTL drops an old expiry.
      state.items.set(key, {
        value,
        expiresAtMs: ttlMs === -1 ? live(key)?.expiresAtMs : expiry(ttlMs),
      });
    },
    async setIfNotExists(key: string, value: Buffer, ttlMs?: number | null) {
      await record("setIfNotExists", [key]);
      if (live(key) !== undefined) return false;
      state.items.set(key, { value, expiresAtMs: expiry(ttlMs) });
      return true;
    },
    async mget(keys: string[]) {
      await record("mget", keys);
      return keys.map((k) => live(k)?.value ?? null);
    },
    async incrBy(key: string, delta: number, ttlMs?: number | null) {
      await record("incrBy", [key]);
      const item = live(key);
      const next = Number(item?.value.toString() ?? "0") + delta;
      state.items.set(key, {
        value: Buffer.from(String(next)),
        expiresAtMs: expiry(ttlMs, item),
      });
      return next;
    },
  };
  return {
    state,
    cluster,
    reset() {
      state.nowMs = 0;
      state.items.clear();
      state.calls.length = 0;
      state.failure = undefined;
    },
  };
});

vi.mock("../../node_modules/encore.dev/internal/runtime/mod.ts", () => ({
  RT: {
    cacheCluster: (name: string) => {
      rt.state.clusters.push(name);
      return rt.cluster;
    },
  },
}));
// The package's compiled entry point would load the native runtime: use its
// TypeScript sources, whose runtime import is the stand-in above.
vi.mock("encore.dev/storage/cache", async () => {
  const src = "../../node_modules/encore.dev/storage/cache/mod.ts";
  return await import(/* @vite-ignore */ src);
});

interface StoreModule {
  EncoreCacheStore: new (keyspaces: unknown) => SharedStore;
  queryCacheKeyspaces: unknown;
}

// A variable specifier keeps tsconfig.core.json from type-checking
// encore.dev's sources through this import.
const storePath = "../../backend/database/encore/cache_store";
const mod = (await import(/* @vite-ignore */ storePath)) as StoreModule;
const store = new mod.EncoreCacheStore(mod.queryCacheKeyspaces);

const ops = () => rt.state.calls.map((c) => c.op);

beforeEach(() => rt.reset());

describe("EncoreCacheStore declarations", () => {
  it("uses one cluster, query-cache, and names itself encore", () => {
    expect(rt.state.clusters).toEqual(["query-cache"]);
    expect(store.name).toBe("encore");
  });

  it("keeps entries, fences and generations under e/, f/ and g/", async () => {
    const key = entryKey("main", "totals", [7]);
    const gen = orgTableGenKey("main", "revenues", 7);
    await store.setEntry(key, "{}", 1_000);
    await store.setFences([[fenceKey(gen, 1), "42"]], 1_000);
    await store.bumpGenerations([gen], 1_000);
    expect([...rt.state.items.keys()]).toEqual([
      `e/${key}`,
      `f/${fenceKey(gen, 1)}`,
      `g/${gen}`,
    ]);
  });
});

describe("EncoreCacheStore entries", () => {
  it("stores, reads back and expires an entry after ttlMs", async () => {
    const key = entryKey("main", "totals", [1]);
    expect(await store.getEntry(key)).toBeUndefined();
    await store.setEntry(key, '{"v":1}', 5_000);
    expect(await store.getEntry(key)).toBe('{"v":1}');
    rt.state.nowMs = 4_999;
    expect(await store.getEntry(key)).toBe('{"v":1}');
    rt.state.nowMs = 5_000;
    expect(await store.getEntry(key)).toBeUndefined();
  });

  it("overwrites an entry, with the new expiry", async () => {
    await store.setEntry("k", "a", 1_000);
    await store.setEntry("k", "b", 10_000);
    rt.state.nowMs = 5_000;
    expect(await store.getEntry("k")).toBe("b");
  });

  it("round-trips arbitrary key strings without collisions, across keyspaces too", async () => {
    const keys = [
      "a/b",
      "a\\/b",
      "a\\b",
      "a//b",
      "/",
      "\\",
      "",
      ":key",
      "rr1:e:main:x:y",
      "__encore",
      "é/ü",
    ];
    for (const [i, k] of keys.entries()) await store.setEntry(k, `v${i}`, 1e6);
    for (const [i, k] of keys.entries())
      expect(await store.getEntry(k)).toBe(`v${i}`);
    expect(rt.state.items.size).toBe(keys.length);
    // The same strings as fences and generations land on other Redis keys.
    await store.setFences(
      keys.map((k, i) => [k, String(i)] as const),
      1e6,
    );
    const bumped = await store.bumpGenerations(keys, 1e6);
    expect(rt.state.items.size).toBe(3 * keys.length);
    expect(await store.getFences(keys)).toEqual(keys.map((_, i) => String(i)));
    expect(await store.getGenerations(keys)).toEqual(bumped);
    expect(new Set(bumped).size).toBe(1); // one clock base, each bumped once
  });
});

describe("EncoreCacheStore generations", () => {
  const a = clusterGenKey("main");
  const b = orgTableGenKey("main", "revenues", 7);
  const c = orgTableGenKey("main", "expenses", 7);

  it("reads 0 for a key never bumped, in one MGET", async () => {
    expect(await store.getGenerations([a, b, c])).toEqual([0, 0, 0]);
    expect(rt.state.calls).toEqual([
      { op: "mget", keys: [`g/${a}`, `g/${b}`, `g/${c}`] },
    ]);
  });

  it("asks nothing of Redis for no keys", async () => {
    expect(await store.getGenerations([])).toEqual([]);
    expect(await store.bumpGenerations([], 1_000)).toEqual([]);
    expect(await store.getFences([])).toEqual([]);
    await store.setFences([], 1_000);
    expect(ops()).toEqual([]);
  });

  it("bumps each key by one, creating it at the clock in microseconds (never 0 again), and returns the new values in order", async () => {
    const before = Date.now() * 1000;
    const [a1, b1] = await store.bumpGenerations([a, b], 60_000);
    expect(a1).toBeGreaterThan(before);
    expect(b1).toBe(a1);
    const [b2, c1] = await store.bumpGenerations([b, c], 60_000);
    expect(b2).toBe(b1! + 1);
    expect(c1).toBeGreaterThanOrEqual(a1!);
    expect(await store.getGenerations([c, b, a])).toEqual([c1, b2, a1]);
  });

  it("concurrent bumps lose no increment", async () => {
    const [first] = await store.bumpGenerations([a], 60_000);
    await Promise.all(
      Array.from({ length: 20 }, () => store.bumpGenerations([a], 60_000)),
    );
    expect(await store.getGenerations([a])).toEqual([first! + 20]);
  });

  it("renews the expiry with every bump, and an expired generation reads 0", async () => {
    const [first] = await store.bumpGenerations([a], 10_000);
    rt.state.nowMs = 8_000;
    await store.bumpGenerations([a], 10_000);
    rt.state.nowMs = 17_999;
    expect(await store.getGenerations([a])).toEqual([first! + 1]);
    rt.state.nowMs = 18_000;
    expect(await store.getGenerations([a])).toEqual([0]);
  });

  it("refuses a generation that is not an integer, without naming the value", async () => {
    rt.state.items.set(`g/${a}`, {
      value: Buffer.from("secret-ish"),
      expiresAtMs: undefined,
    });
    await expect(store.getGenerations([a])).rejects.toThrow(
      /^a generation key holds something other than an integer$/,
    );
  });
});

describe("EncoreCacheStore fences", () => {
  const gen = orgTableGenKey("main", "revenues", 7);
  const f1 = fenceKey(gen, 1);
  const f2 = fenceKey(gen, 2);

  it("sets a fence once: a second LSN for the same key is ignored", async () => {
    await store.setFences([[f1, "100"]], 60_000);
    await store.setFences(
      [
        [f1, "999"],
        [f2, "200"],
      ],
      60_000,
    );
    expect(await store.getFences([f1, f2])).toEqual(["100", "200"]);
  });

  it("reads undefined where no fence is stored, in one MGET", async () => {
    await store.setFences([[f2, "200"]], 60_000);
    rt.state.calls.length = 0;
    expect(await store.getFences([f1, f2])).toEqual([undefined, "200"]);
    expect(ops()).toEqual(["mget"]);
  });

  it("expires a fence after ttlMs, after which it can be set again", async () => {
    await store.setFences([[f1, "100"]], 1_000);
    rt.state.nowMs = 1_000;
    expect(await store.getFences([f1])).toEqual([undefined]);
    await store.setFences([[f1, "300"]], 1_000);
    expect(await store.getFences([f1])).toEqual(["300"]);
  });
});

describe("EncoreCacheStore failures and bounds", () => {
  it("rejects every call when the runtime does (an unconfigured cluster)", async () => {
    rt.state.failure = new Error(
      "cache: this service is not configured to use this cache cluster",
    );
    const calls: Promise<unknown>[] = [
      store.getEntry("k"),
      store.setEntry("k", "v", 1_000),
      store.getGenerations(["g"]),
      store.bumpGenerations(["g"], 1_000),
      store.setFences([["f", "1"]], 1_000),
      store.getFences(["f"]),
    ];
    for (const call of calls)
      await expect(call).rejects.toThrow(/not configured/);
  });

  it("refuses a ttlMs that is not a positive integer before calling Redis", async () => {
    for (const ttl of [0, -1, 1.5, Number.NaN]) {
      await expect(store.setEntry("k", "v", ttl)).rejects.toThrow(RangeError);
      await expect(store.bumpGenerations(["g"], ttl)).rejects.toThrow(
        RangeError,
      );
      await expect(store.setFences([["f", "1"]], ttl)).rejects.toThrow(
        RangeError,
      );
    }
    expect(ops()).toEqual([]);
  });

  it("closes idempotently", async () => {
    await store.close();
    await store.close();
  });
});

/**
 * RedisStore and GuardedStore against a real redis-server started by the
 * test (no PostgreSQL needed): round trips, expiry, atomic bumps, fences
 * that keep their first value, and a Redis that is killed, stalled and
 * brought back while a GuardedStore keeps every call inside its timeout.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { clusterGenKey } from "../../backend/database/router/cache/cache_keys";
import { GuardedStore } from "../../backend/database/router/cache/guarded_store";
import { RedisStore } from "../../backend/database/router/cache/redis_store";
import { freePort } from "../../backend/standalone/local_cluster/ports";
import { systemClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";
import { startRedis, type TestRedis } from "./helpers/redis";
import { haveTool, REDIS_SERVER } from "./helpers/system_tools";
import { report } from "../support/verbose";

// Skipped without redis-server outside CI (the global setup says so); required on CI.
const haveRedis = haveTool(REDIS_SERVER);

const DAY_MS = 86_400_000;

/** Keys of one test, apart from every other test's. */
function keys() {
  const id = randomUUID();
  return {
    entry: (n: number | string) => `rr1:e:test:${id}:${n}`,
    gen: (n: number | string) => `rr1:g:test:${id}:${n}`,
    fence: (n: number | string) => `rr1:f:test:${id}:${n}`,
  };
}

describe.skipIf(!haveRedis)("RedisStore", () => {
  let redis: TestRedis;
  let store: RedisStore;
  let raw: Redis; // to look at TTLs and plant odd values

  beforeAll(async () => {
    redis = await startRedis();
    store = new RedisStore(redis.url);
    raw = new Redis(redis.url);
  });
  afterAll(async () => {
    await store?.close();
    raw?.disconnect();
    await redis?.stop();
  });

  it("round-trips entries, generations and fences", async () => {
    const k = keys();
    expect(store.name).toBe("redis");
    expect(await store.getEntry(k.entry(1))).toBeUndefined();
    await store.setEntry(k.entry(1), '{"rows":[1]}', 60_000);
    expect(await store.getEntry(k.entry(1))).toBe('{"rows":[1]}');
    await store.setEntry(k.entry(1), '{"rows":[2]}', 60_000); // overwrites
    expect(await store.getEntry(k.entry(1))).toBe('{"rows":[2]}');

    expect(await store.getGenerations([k.gen(1), k.gen(2)])).toEqual([0, 0]);
    // A new key starts from the server's clock in microseconds, not 0.
    const before = Date.now() * 1000;
    const [g1, g2] = await store.bumpGenerations([k.gen(1), k.gen(2)], DAY_MS);
    expect(g1).toBeGreaterThan(before - 5_000_000);
    expect(Number.isSafeInteger(g1)).toBe(true);
    expect(await store.bumpGenerations([k.gen(2)], DAY_MS)).toEqual([g2! + 1]);
    expect(await store.getGenerations([k.gen(1), k.gen(2), k.gen(3)])).toEqual([
      g1,
      g2! + 1,
      0,
    ]);

    await store.setFences(
      [
        [k.fence(1), "0/3000060"],
        [k.fence(2), "1/A0"],
      ],
      60_000,
    );
    expect(await store.getFences([k.fence(1), k.fence(3), k.fence(2)])).toEqual(
      ["0/3000060", undefined, "1/A0"],
    );

    // Empty lists answer without a round trip.
    expect(await store.getGenerations([])).toEqual([]);
    expect(await store.bumpGenerations([], DAY_MS)).toEqual([]);
    expect(await store.getFences([])).toEqual([]);
    await store.setFences([], 60_000);
  });

  it("sets the TTLs it is given, and entries expire", async () => {
    const k = keys();
    await store.bumpGenerations([k.gen(1)], DAY_MS);
    await store.setFences([[k.fence(1), "0/1"]], 600_000);
    await store.setEntry(k.entry(1), "v", 60_000);
    const ttl = async (key: string) => Number(await raw.pttl(key));
    expect(await ttl(k.gen(1))).toBeGreaterThan(DAY_MS - 10_000);
    expect(await ttl(k.fence(1))).toBeGreaterThan(590_000);
    expect(await ttl(k.entry(1))).toBeGreaterThan(50_000);

    await store.setEntry(k.entry(2), "short", 50);
    await store.setFences([[k.fence(2), "0/2"]], 50);
    await store.bumpGenerations([k.gen(2)], 50);
    expect(await store.getEntry(k.entry(2))).toBe("short");
    await vi.waitFor(
      async () => {
        expect(await store.getEntry(k.entry(2))).toBeUndefined();
        expect(await store.getFences([k.fence(2)])).toEqual([undefined]);
        expect(await store.getGenerations([k.gen(2)])).toEqual([0]);
      },
      { timeout: 2_000, interval: 20 },
    );
  });

  it("rejects a TTL that is not a positive integer, without touching Redis", async () => {
    const k = keys();
    await expect(store.setEntry(k.entry(1), "v", 0)).rejects.toThrow(
      RangeError,
    );
    await expect(store.setEntry(k.entry(1), "v", 1.5)).rejects.toThrow(/ttlMs/);
    await expect(store.bumpGenerations([k.gen(1)], -1)).rejects.toThrow(
      RangeError,
    );
    await expect(
      store.setFences([[k.fence(1), "0/1"]], Number.NaN),
    ).rejects.toThrow(RangeError);
    expect(await raw.exists(k.entry(1), k.gen(1), k.fence(1))).toBe(0);
  });

  it("loses no increment under 200 concurrent bumps from two clients", async () => {
    const k = keys();
    const other = new RedisStore(redis.url);
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 === 0 ? store : other).bumpGenerations(
            [k.gen("a"), k.gen("b")],
            DAY_MS,
          ),
        ),
      );
      // Each bump saw its own values: 200 consecutive ones, for both keys.
      const seen = (i: 0 | 1) =>
        results.map((r) => r[i]!).sort((x, y) => x - y);
      for (const i of [0, 1] as const) {
        const values = seen(i);
        const first = values[0]!;
        expect(values).toEqual(
          Array.from({ length: 200 }, (_, n) => first + n),
        );
      }
      expect(await store.getGenerations([k.gen("a"), k.gen("b")])).toEqual([
        seen(0)[199],
        seen(1)[199],
      ]);
    } finally {
      await other.close();
    }
  });

  it("a Redis that restarts empty never hands out a generation handed out before", async () => {
    const k = keys();
    const before = await store.bumpGenerations([k.gen("r")], DAY_MS);
    await store.bumpGenerations([k.gen("r")], DAY_MS);
    await raw.del(k.gen("r")); // as a restart without persistence, or an eviction, would
    const after = await store.bumpGenerations([k.gen("r")], DAY_MS);
    expect(after[0]!).toBeGreaterThan(before[0]! + 1);
  });

  it("keeps a fence's first value: setFences never overwrites", async () => {
    const k = keys();
    await store.setFences([[k.fence(1), "0/100"]], 60_000);
    await store.setFences(
      [
        [k.fence(1), "0/200"],
        [k.fence(2), "0/300"],
      ],
      60_000,
    );
    expect(await store.getFences([k.fence(1), k.fence(2)])).toEqual([
      "0/100",
      "0/300",
    ]);
  });

  it("rejects a generation key that holds something else, without echoing it", async () => {
    const k = keys();
    await raw.set(k.gen(1), "not-a-number-secret");
    const err = await store.getGenerations([k.gen(1)]).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).not.toContain("secret");
  });

  it("fails while Redis is unreachable instead of waiting for it, naming no password; close() is idempotent", async () => {
    const port = await freePort(); // nothing listens there
    const down = new RedisStore(`redis://:hunter2@127.0.0.1:${port}`, {
      connectTimeoutMs: 500,
    });
    try {
      // Refused, not queued until Redis returns: the call settles while
      // nothing listens (and the test's timeout would catch a hang).
      const err = await down.getEntry("rr1:e:x").catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect(`${String(err)} ${(err as Error).stack}`).not.toContain("hunter2");
      await expect(down.bumpGenerations(["rr1:g:x"], DAY_MS)).rejects.toThrow();
    } finally {
      await down.close();
      await down.close();
    }
    await expect(down.getEntry("rr1:e:x")).rejects.toThrow();
  });
});

describe.skipIf(!haveRedis)(
  "GuardedStore over a real Redis that dies and returns",
  () => {
    const TIMEOUT_MS = 150;
    // Long enough that an open breaker stays open while a busy machine
    // checks it (no half-open trial in between); short enough to recover.
    const OPEN_MS = 2_000;
    const EPOCH_KEYS = [clusterGenKey("main"), clusterGenKey("eu")];
    let redis: TestRedis;
    let guarded: GuardedStore;
    let innerCalls = 0;
    const transitions: string[] = [];

    beforeAll(async () => {
      redis = await startRedis();
      const inner = new RedisStore(redis.url, { connectTimeoutMs: 1_000 });
      // Counts what reaches Redis: an open breaker sends nothing.
      const counted = new Proxy(inner, {
        get(target, prop, receiver) {
          const value: unknown = Reflect.get(target, prop, receiver);
          if (typeof value !== "function") return value;
          return (...args: unknown[]) => {
            innerCalls++;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      guarded = new GuardedStore(counted, {
        timeoutMs: TIMEOUT_MS,
        failureThreshold: 3,
        openDurationMs: OPEN_MS,
        clock: systemClock,
        logger: silentLogger,
        epochKeys: () => EPOCH_KEYS,
        generationTtlMs: DAY_MS,
        onStateChange: (from, to) => transitions.push(`${from}->${to}`),
      });
    });
    afterAll(async () => {
      await guarded?.close();
      await redis?.stop();
    });

    /**
     * Runs `call`; its result and how long it took (for the verbose report:
     * how fast is `npm run bench`'s question). That it resolves at all while
     * Redis is dead or stopped is the behaviour under test.
     */
    async function timed<T>(call: () => Promise<T>): Promise<[T, number]> {
      const started = performance.now();
      const result = await call();
      return [result, performance.now() - started];
    }

    /** Calls until the store is used again with nothing lost (at most 20 s). */
    async function waitUntilRecovered(): Promise<void> {
      await vi.waitFor(
        async () => {
          await timed(() => guarded.getGenerations(EPOCH_KEYS));
          expect(guarded.state()).toMatchObject({
            breaker: "closed",
            invalidationLost: false,
            lastError: null,
          });
        },
        { timeout: 20_000, interval: 50 },
      );
    }

    it("killed: every call resolves unavailable, the breaker opens, and a restart is picked up with the lost invalidation repaired", async () => {
      const k = keys();
      expect(await guarded.setEntry(k.entry(1), "v", 60_000)).toBe(true);
      expect(await guarded.getEntry(k.entry(1))).toBe("v");

      await redis.kill();
      const durations: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [value, ms] = await timed(() => guarded.getEntry(k.entry(1)));
        expect(value).toBeUndefined();
        durations.push(ms);
      }
      expect(guarded.state().breaker).toBe("open");
      expect(guarded.available()).toBe(false);
      const [bumped, bumpMs] = await timed(() =>
        guarded.bumpGenerations([k.gen(1)], DAY_MS),
      );
      expect(bumped).toBeUndefined();
      expect(guarded.state().invalidationLost).toBe(true);
      report(
        `redis killed: calls resolved in ${durations.map((d) => d.toFixed(1)).join(", ")} ms; refused bump ${bumpMs.toFixed(1)} ms`,
      );

      await redis.restart(); // empty: no persistence
      const restarted = performance.now();
      await waitUntilRecovered();
      report(
        `redis restarted: used again after ${(performance.now() - restarted).toFixed(0)} ms`,
      );
      // The recovery bumped every epoch key (from 0: the restart lost all data).
      const epochs = await guarded.getGenerations(EPOCH_KEYS);
      expect(epochs?.every((g) => g >= 1)).toBe(true);
      expect(transitions).toContain("closed->open");
      expect(transitions.at(-1)).toBe("half_open->closed");
    });

    it("stalled (SIGSTOP): calls time out while Redis stays stopped, then the open breaker answers without it; after resume the epoch keys are bumped", async () => {
      const k = keys();
      await waitUntilRecovered();
      const before = await guarded.getGenerations(EPOCH_KEYS);
      expect(before).toBeDefined();

      redis.pause();
      try {
        const durations: number[] = [];
        // The first timed-out call is the lost bump; two reads open the breaker.
        const [bumped, bumpMs] = await timed(() =>
          guarded.bumpGenerations([k.gen(1)], DAY_MS),
        );
        expect(bumped).toBeUndefined();
        durations.push(bumpMs);
        for (let i = 0; i < 2; i++) {
          const [value, ms] = await timed(() => guarded.getEntry(k.entry(1)));
          expect(value).toBeUndefined();
          durations.push(ms);
        }
        for (const ms of durations)
          expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
        expect(guarded.state()).toMatchObject({
          breaker: "open",
          invalidationLost: true,
        });
        expect(guarded.state().lastError).toMatch(/timed out/);
        // Open: the call is answered without reaching Redis.
        const callsBefore = innerCalls;
        const [openValue, openMs] = await timed(() =>
          guarded.getEntry(k.entry(1)),
        );
        expect(openValue).toBeUndefined();
        expect(innerCalls).toBe(callsBefore);
        expect(guarded.state().breaker).toBe("open");
        report(
          `redis stalled: timed-out calls resolved in ${durations.map((d) => d.toFixed(1)).join(", ")} ms (timeoutMs ${TIMEOUT_MS}); open breaker ${openMs.toFixed(2)} ms`,
        );
      } finally {
        redis.resume();
      }

      await waitUntilRecovered();
      const after = await guarded.getGenerations(EPOCH_KEYS);
      expect(after).toHaveLength(EPOCH_KEYS.length);
      after?.forEach((g, i) => expect(g).toBeGreaterThan(before?.[i] ?? 0));
    });
  },
);

/**
 * Scenario "redis_breaker": the query cache's Redis tier when Redis stops
 * answering. Part 1, the guard alone: a GuardedStore over a real Redis with
 * the router's settings, Redis frozen (SIGSTOP): how long the calls that
 * open the breaker take, and how fast calls answer once it is open. Part 2,
 * under load: 8 workers on the finance mix through a router with the cache
 * and Redis, while Redis is frozen, then killed: failures, p99 against an
 * uncached router, and when the tier serves again. Formerly asserted by
 * test/integration/redis_store.test.ts and cache_redis_outage.test.ts
 * (issue 20). Needs `redis-server`; without it the section says so.
 */
import { performance } from "node:perf_hooks";
import { clusterGenKey } from "../../backend/database/router/cache/cache_keys";
import { GuardedStore } from "../../backend/database/router/cache/guarded_store";
import { RedisStore } from "../../backend/database/router/cache/redis_store";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { systemClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { BenchContext, Section } from "./common";
import { fmt, percentile, sleep } from "./common";
import { GOAL_HEADERS, goalRow, under } from "./goals";
import { underLoad } from "./redis_breaker_load";
import { redisServerBinary, startRedis, type BenchRedis } from "./redis_server";

/** As backend/database/router/cache/create_query_cache.ts builds the guard. */
const FAILURE_THRESHOLD = 3;
const OPEN_MS = 5_000;
/** The per-call slack test/integration/redis_store.test.ts allowed over CACHE_TIMEOUT. */
const SLACK_MS = 200;
const OPEN_CALLS = 1_000;

/** CACHE_TIMEOUT by default, as loadConfig reads it. */
function defaultCacheTimeoutMs(primaryUrl: string): number {
  return loadConfig({ DATABASE_URL: primaryUrl }).router.cache.timeoutMs;
}

/** Scenario entry point. */
export async function redisBreaker(ctx: BenchContext): Promise<Section> {
  const title = "Redis tier: the cache when Redis stalls or dies";
  if (redisServerBinary() === null) {
    ctx.log("redis_breaker: skipped, no redis-server");
    return {
      id: "redis_breaker",
      title,
      method: [
        "skipped: install redis-server (`apt-get install -y redis-server`); this scenario starts its own on a free loopback port.",
      ],
      tables: [],
      notes: [],
    };
  }
  const timeoutMs = defaultCacheTimeoutMs(ctx.cluster.primary.url);
  let redis: BenchRedis | null = null;
  try {
    redis = await startRedis();
    ctx.log("redis_breaker: the guard alone, Redis frozen");
    const guard = await guardAlone(redis, timeoutMs);
    ctx.log("redis_breaker: under load, Redis frozen then killed");
    const load = await underLoad(ctx, redis, timeoutMs);
    return {
      id: "redis_breaker",
      title,
      method: [
        `Each run starts its own redis-server on a free 127.0.0.1 port (no persistence). The guard is built as the router builds it: ` +
          `CACHE_TIMEOUT ${timeoutMs} ms (default) per call, breaker open after ${FAILURE_THRESHOLD} failures or timeouts in a row, ` +
          `for ${OPEN_MS / 1000} s, then one trial call.`,
        `Part 1, the guard alone (GuardedStore over RedisStore, no database): Redis frozen with SIGSTOP, then \`getEntry\` called ` +
          `one at a time until the breaker is open, then ${OPEN_CALLS.toLocaleString("en-US")} more calls.`,
        ...load.method,
      ],
      tables: [
        {
          title: "Part 1: the guard alone, Redis frozen (SIGSTOP)",
          headers: [...GOAL_HEADERS],
          rows: [
            goalRow(
              "slowest call while the breaker was still closed",
              guard.slowestClosedMs,
              `${fmt(guard.slowestClosedMs, 1)} ms (${guard.closedCalls.map((d) => fmt(d, 1)).join(", ")})`,
              under(timeoutMs + SLACK_MS, " ms"),
            ),
            goalRow(
              "SIGSTOP → breaker open",
              guard.openAfterMs,
              `${fmt(guard.openAfterMs, 1)} ms`,
              under(FAILURE_THRESHOLD * (timeoutMs + SLACK_MS), " ms"),
            ),
            goalRow(
              `call with the breaker open, p99 of ${OPEN_CALLS.toLocaleString("en-US")}`,
              guard.openP99Ms,
              `${fmt(guard.openP99Ms, 3)} ms (max ${fmt(guard.openMaxMs, 2)} ms)`,
              under(20, " ms"),
            ),
          ],
        },
        ...load.tables,
      ],
      notes: [
        `Goals (issue 20): each call bounded by CACHE_TIMEOUT plus ${SLACK_MS} ms of slack, so the breaker opens within ${FAILURE_THRESHOLD} such calls; ` +
          "an open breaker answers at once (under 20 ms; formerly test/integration/redis_store.test.ts, one call). Under load: 0 failed requests, " +
          "p99 while Redis is out within the uncached p99 plus CACHE_TIMEOUT, and the tier used again after Redis returns " +
          "(formerly test/integration/cache_redis_outage.test.ts, Redis killed).",
        ...load.notes,
      ],
    };
  } finally {
    await redis?.stop();
  }
}

/** Part 1: SIGSTOP, then sequential calls until the breaker opens, then calls against the open breaker. */
async function guardAlone(
  redis: BenchRedis,
  timeoutMs: number,
): Promise<{
  closedCalls: number[];
  slowestClosedMs: number;
  openAfterMs: number;
  openP99Ms: number;
  openMaxMs: number;
}> {
  let openedAt = NaN;
  // Connect and store outside the guard: on a loaded machine the first call,
  // which opens the connection, may take longer than CACHE_TIMEOUT.
  const store = new RedisStore(redis.url, { connectTimeoutMs: 1_000 });
  const key = "rr1:e:bench:redis_breaker";
  await store.setEntry(key, "v", 60_000);
  const guarded = new GuardedStore(store, {
    timeoutMs,
    failureThreshold: FAILURE_THRESHOLD,
    openDurationMs: OPEN_MS,
    clock: systemClock,
    logger: silentLogger,
    epochKeys: () => [clusterGenKey("main")],
    generationTtlMs: 86_400_000,
    onStateChange: (_from, to) => {
      if (to === "open" && Number.isNaN(openedAt)) openedAt = performance.now();
    },
  });
  try {
    for (let i = 0; i < 20; i++) await guarded.getEntry(key);
    // Calls past CACHE_TIMEOUT with Redis up (CPU contention) may have opened
    // the breaker: wait for a trial to close it; only the stall's opening counts.
    const deadline = performance.now() + 3 * OPEN_MS;
    while (guarded.state().breaker !== "closed") {
      if (performance.now() > deadline)
        throw new Error("the guard's breaker did not close with Redis up");
      await sleep(100);
      await guarded.getEntry(key);
    }
    openedAt = NaN;
    const closedCalls: number[] = [];
    redis.pause();
    const stalledAt = performance.now();
    try {
      for (let i = 0; i < 10 && guarded.state().breaker !== "open"; i++) {
        const t0 = performance.now();
        await guarded.getEntry(key);
        closedCalls.push(performance.now() - t0);
      }
      const open: number[] = [];
      for (let i = 0; i < OPEN_CALLS; i++) {
        const t0 = performance.now();
        await guarded.getEntry(key);
        open.push(performance.now() - t0);
      }
      open.sort((a, b) => a - b);
      return {
        closedCalls,
        slowestClosedMs: Math.max(...closedCalls),
        openAfterMs: openedAt - stalledAt,
        openP99Ms: percentile(open, 99),
        openMaxMs: open.at(-1) ?? NaN,
      };
    } finally {
      redis.resume();
    }
  } finally {
    await guarded.close();
  }
}

/**
 * The shared cache tier dies under load: a real redis-server is killed
 * (SIGKILL) while 8 clients read cached sums and write. No request fails,
 * the p99 stays within the uncached p99 plus CACHE_TIMEOUT, and the tier is
 * used again after Redis comes back. Runs in the "load" project (last and
 * alone): it compares latencies measured in the same run.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApp, type TestApp } from "./helpers/app";
import { orgIdBlock } from "./helpers/http";
import { startRedis, type TestRedis } from "./helpers/redis";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const orgs = orgIdBlock(20);
const CACHE_TIMEOUT_MS = 25;

let redis: TestRedis;
let cached: TestApp;
let uncached: TestApp;

beforeAll(async () => {
  redis = await startRedis();
  const env = { CACHE_TIMEOUT: `${CACHE_TIMEOUT_MS}ms` };
  cached = await startTestApp(primaryUrl, replicaUrls, {
    ...env,
    CACHE_ENABLED: "true",
    REDIS_URL: redis.url,
  });
  uncached = await startTestApp(primaryUrl, replicaUrls, {
    ...env,
    CACHE_ENABLED: "false",
  });
});

afterAll(async () => {
  await cached?.close();
  await uncached?.close();
  await redis?.stop();
});

interface LoadResult {
  latenciesMs: number[];
  failures: string[];
}

/** 8 clients for `ms`: 95 % eventual sums over 20 orgs (skewed), 5 % creates. */
async function load(t: TestApp, ms: number): Promise<LoadResult> {
  const out: LoadResult = { latenciesMs: [], failures: [] };
  const until = Date.now() + ms;
  let seq = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (let i = 0; Date.now() < until && i < 100_000; i++) {
        const n = seq++;
        // Skewed: org k with weight ~ 1/(k+1).
        const org = orgs[Math.floor(orgs.length * Math.random() ** 2)]!;
        const t0 = performance.now();
        const r =
          n % 20 === 0
            ? await t.call("POST", `/v1/finance/orgs/${org}/revenues`, {
                amountCents: 1,
                currency: "EUR",
                occurredAt: "2026-05-01T00:00:00Z",
              })
            : await t.call("GET", `/v1/finance/orgs/${org}/revenues/sum`);
        out.latenciesMs.push(performance.now() - t0);
        if (r.status >= 300) out.failures.push(`${r.status}`);
      }
    }),
  );
  return out;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;
}

async function redisTier(t: TestApp): Promise<{ state: string }> {
  const res = await t.call("GET", "/v1/system/database/replicas/status");
  return res.body.cache.tiers.find((x: { name: string }) => x.name === "redis");
}

function sharedHits(t: TestApp): number {
  return t.app.metrics.cache
    .readCounts()
    .filter((c) => c.outcome === "hit_shared" || c.outcome === "hit_memory")
    .reduce((n, c) => n + c.count, 0);
}

describe("Redis killed under load", () => {
  it("0 failed requests, p99 within the uncached p99 + CACHE_TIMEOUT, and Redis is used again after it returns", async () => {
    const baseline = await load(uncached, 3_000);
    await load(cached, 1_000); // warm
    const warmHits = sharedHits(cached);
    expect(warmHits).toBeGreaterThan(0);

    const during = load(cached, 4_000);
    await new Promise((r) => setTimeout(r, 500));
    await redis.kill();
    const outage = await during;
    expect((await redisTier(cached)).state).not.toBe("ok");

    await redis.restart();
    // The breaker retries after its open period (5 s); then the tier serves again.
    const deadline = Date.now() + 20_000;
    let state = "";
    while (Date.now() < deadline) {
      await load(cached, 500);
      state = (await redisTier(cached)).state;
      if (state === "ok") break;
    }
    const hitsBefore = sharedHits(cached);
    const after = await load(cached, 1_500);
    const summary = {
      uncachedP99: p99(baseline.latenciesMs),
      outageP99: p99(outage.latenciesMs),
      outageRequests: outage.latenciesMs.length,
      afterP99: p99(after.latenciesMs),
      hitsAfterReturn: sharedHits(cached) - hitsBefore,
    };
    console.log(`redis killed under load: ${JSON.stringify(summary)}`);
    expect(baseline.failures).toEqual([]);
    expect(outage.failures).toEqual([]);
    expect(after.failures).toEqual([]);
    expect(summary.outageP99).toBeLessThanOrEqual(
      summary.uncachedP99 + CACHE_TIMEOUT_MS,
    );
    expect(state).toBe("ok");
    expect(summary.hitsAfterReturn).toBeGreaterThan(0);
  }, 90_000);
});

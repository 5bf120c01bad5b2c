/**
 * The shared cache tier across processes: two standalone services (as
 * `npm start` runs them) share one real redis-server. A write through one
 * invalidates what the other cached before the write's response returns.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { FAST_ENV } from "./helpers/app";
import { orgIdBlock } from "./helpers/http";
import { startRedis, type TestRedis } from "./helpers/redis";
import { haveTool, REDIS_SERVER } from "./helpers/system_tools";
import { spawnService, type SpawnedService } from "./helpers/service";

// Skipped without redis-server outside CI (the global setup says so); required on CI.
const haveRedis = haveTool(REDIS_SERVER);

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const org = orgIdBlock(1)[0]!;
const sumPath = `/v1/finance/orgs/${org}/revenues/sum`;

let redis: TestRedis;
let a: SpawnedService;
let b: SpawnedService;

beforeAll(async () => {
  redis = await startRedis();
  const env = {
    ...process.env,
    ...FAST_ENV,
    DATABASE_URL: primaryUrl,
    READ_REPLICA_URLS: replicaUrls.join(","),
    PORT: "0",
    REDIS_URL: redis.url,
    CACHE_ENABLED: "true",
  };
  [a, b] = await Promise.all([spawnService(env), spawnService(env)]);
});

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

async function get(
  base: string,
  path: string,
): Promise<{ status: number; servedBy: string | null; body: any }> {
  const res = await fetch(base + path);
  return {
    status: res.status,
    servedBy: res.headers.get("x-served-by"),
    body: await res.json(),
  };
}

describe.skipIf(!haveRedis)("two processes, one Redis", () => {
  it("a write through A invalidates B's cached sum before A answers, 50 times in a row", async () => {
    const misses: string[] = [];
    let bHits = 0;
    for (let i = 0; i < 50; i++) {
      // B caches the sum (eventual reads until one is a hit).
      let hit = false;
      for (let k = 0; k < 50 && !hit; k++) {
        const r = await get(b.url, sumPath);
        expect(r.status).toBe(200);
        hit = r.servedBy === "cache";
        if (!hit) await new Promise((res) => setTimeout(res, 20));
      }
      expect(hit, `round ${i}: B never served the sum from its cache`).toBe(
        true,
      );
      bHits++;
      const created = await fetch(`${a.url}/v1/finance/orgs/${org}/revenues`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          amountCents: 1,
          currency: "EUR",
          occurredAt: "2026-05-01T00:00:00Z",
        }),
      });
      expect(created.status).toBe(201);
      // A has answered: B's entry must be gone.
      const after = await get(b.url, sumPath);
      if (after.servedBy === "cache")
        misses.push(`round ${i}: B still served its cached sum`);
    }
    expect(misses).toEqual([]);
    expect(bHits).toBe(50);
  }, 120_000);

  it("the status endpoint shows both tiers, and no Redis URL", async () => {
    const res = await fetch(`${b.url}/v1/system/database/replicas/status`);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body.cache.enabled).toBe(true);
    expect(body.cache.tiers.map((t: { name: string }) => t.name)).toEqual([
      "memory",
      "redis",
    ]);
    expect(body.cache.tiers[1].state).toBe("ok");
    expect(text).not.toContain(redis.url);
    expect(text).not.toContain(`:${redis.port}`);
  });
});

/**
 * Part 2 of the redis_breaker scenario: 8 workers on a finance mix (95 %
 * cached sums over 20 orgs, skewed; 5 % creates) through FinanceRepository,
 * first on a router with the cache off (the baseline), then on one with the
 * cache and Redis (default settings) while Redis is frozen (SIGSTOP), thawed,
 * killed (SIGKILL) and restarted.
 */
import { performance } from "node:perf_hooks";
import { RedisStore } from "../../backend/database/router/cache/redis_store";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import { runWithRequestContext } from "../../backend/database/router/base/request_context";
import { silentLogger } from "../../backend/database/router/support/logger";
import { FinanceRepository } from "../../backend/finance/finance_repository";
import type { BenchContext, Table } from "./common";
import { fmt, fmtInt, percentile, rng, sleep } from "./common";
import { sqlOnce, startRouter, waitForReplicas } from "./db";
import { GOAL_HEADERS, goalRow, under } from "./goals";
import { trackTier } from "./redis_breaker_tier";
import type { BenchRedis } from "./redis_server";

const WORKERS = 8;
/** Orgs of their own, apart from the shared seed's and the cache scenario's. */
const FIRST_ORG = 7_001;
const ORGS = 20;
/** The breaker's open duration (create_query_cache.ts); the tier may serve again one trial after it. */
const OPEN_MS = 5_000;

interface Req {
  start: number;
  end: number;
  ok: boolean;
  read: boolean;
}

/** Workers issuing the mix on `repo` until stopped; every request logged. */
function drive(repo: FinanceRepository, seed: number) {
  const reqs: Req[] = [];
  let running = true;
  const next = rng(seed);
  let n = 0;
  const worker = async () => {
    while (running) {
      const i = n++;
      const org = FIRST_ORG + Math.floor(ORGS * next() ** 2);
      const read = i % 20 !== 0;
      const start = performance.now();
      let ok = true;
      try {
        await runWithRequestContext(
          {
            endpoint: read ? "bench.redis.sum" : "bench.redis.create",
            servedBy: [],
          },
          () =>
            read
              ? repo.sum("revenues", org)
              : repo.create("revenues", org, {
                  amountCents: 1 + (i % 1_000),
                  currency: "EUR",
                  status: "pending",
                  description: "redis bench",
                  occurredAt: new Date(Date.UTC(2025, 4, 1)),
                }),
        );
      } catch {
        ok = false;
      }
      reqs.push({ start, end: performance.now(), ok, read });
    }
  };
  const workers = Array.from({ length: WORKERS }, worker);
  return {
    reqs,
    stop: async () => {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Requests that started in [from, to): count, failed, read p50 and p99. */
function window(reqs: readonly Req[], from: number, to: number) {
  const inside = reqs.filter((r) => r.start >= from && r.start < to);
  const lat = inside
    .filter((r) => r.read && r.ok)
    .map((r) => r.end - r.start)
    .sort((a, b) => a - b);
  return {
    n: inside.length,
    failed: inside.filter((r) => !r.ok).length,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
  };
}

/** Polls until the router's Redis tier reports "ok" (at most 20 s); its time, or NaN. */
async function tierOk(router: ReplicaRouter): Promise<number> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const t = router.cache.status().tiers.find((x) => x.name === "redis");
    if (t?.state === "ok") return performance.now();
    await sleep(20);
  }
  return NaN;
}

/** Part 2; its method paragraph, tables and notes. */
export async function underLoad(
  ctx: BenchContext,
  redis: BenchRedis,
  timeoutMs: number,
): Promise<{ method: string[]; tables: Table[]; notes: string[] }> {
  const phaseMs = ctx.quick ? 1_500 : 3_000;
  const outageMs = ctx.quick ? 2_000 : 4_000;
  await sqlOnce(
    ctx.cluster.primary.url,
    `INSERT INTO revenues (org_id, amount_cents, currency, status, description, occurred_at)
     SELECT ${FIRST_ORG} + g % ${ORGS}, g * 13 % 100000, 'EUR', 'received', 'redis bench seed',
            timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour'
     FROM generate_series(1, ${ORGS * 50}) AS g`,
  );
  await waitForReplicas(ctx.cluster);

  const uncached = await startRouter(ctx.cluster, ctx.cluster.replicas, {
    CACHE_ENABLED: "false",
  });
  let base;
  try {
    const d = drive(new FinanceRepository(uncached), 1);
    await sleep(500);
    const from = performance.now();
    await sleep(phaseMs);
    const to = performance.now();
    await d.stop();
    base = window(d.reqs, from, to);
  } finally {
    await uncached.close();
  }

  const opens: number[] = [];
  const sharedHits: number[] = [];
  const router = await startRouter(
    ctx.cluster,
    ctx.cluster.replicas,
    {},
    {
      sharedCache: new RedisStore(redis.url),
      logger: {
        ...silentLogger,
        warn(message) {
          if (message === "query cache shared tier unavailable")
            opens.push(performance.now());
        },
      },
      cacheObserver: {
        onRead(_endpoint, outcome) {
          if (outcome === "hit_shared") sharedHits.push(performance.now());
        },
      },
    },
  );
  const t: Record<string, number> = {};
  let d: ReturnType<typeof drive> | null = null;
  const tier = trackTier(router);
  try {
    d = drive(new FinanceRepository(router), 2);
    await sleep(1_000); // warm
    t.up = performance.now();
    await sleep(phaseMs);
    redis.pause();
    t.stall = performance.now();
    await sleep(outageMs);
    redis.resume();
    t.resume = performance.now();
    t.okAfterStall = await tierOk(router);
    await sleep(1_000);
    t.kill = performance.now();
    await redis.kill();
    await sleep(Math.max(0, t.kill + outageMs - performance.now()));
    t.restart = performance.now();
    await redis.restart();
    t.okAfterKill = await tierOk(router);
    t.after = performance.now();
    await sleep(phaseMs);
    t.end = performance.now();
  } finally {
    tier.stop();
    redis.resume();
    await d?.stop();
    await router.close();
  }
  const reqs = d.reqs;
  const up = window(reqs, t.up!, t.stall!);
  const stalled = window(reqs, t.stall!, t.resume!);
  const killed = window(reqs, t.kill!, t.restart!);
  const after = window(reqs, t.after!, t.end!);
  const bound = base.p99 + timeoutMs;
  const phase = (
    label: string,
    w: ReturnType<typeof window>,
    p99Goal: boolean,
  ): string[] => {
    const goal = p99Goal ? `0 failed; p99 ≤ ${fmt(bound, 1)} ms` : "0 failed";
    const ok = w.failed === 0 && (!p99Goal || w.p99 <= bound);
    return [
      label,
      fmtInt(w.n),
      fmtInt(w.failed),
      fmt(w.p50, 2),
      fmt(w.p99, 1),
      goal,
      ok ? "met" : "missed",
    ];
  };
  const ms = (x: number) => (Number.isFinite(x) ? `${fmtInt(x)} ms` : "never");
  const outGoal = under(3 * (timeoutMs + 200), " ms");
  const backGoal = under(OPEN_MS + 1_000, " ms");
  const hitsAfter = sharedHits.filter((x) => x >= t.after!).length;
  /** The tier out of use after a fault: ms, or "already" with the state it was in. */
  const outOfUse = (label: string, from: number, to: number) => {
    const x = tier.outOfUseAfter(from, to);
    const shown = x === 0 ? `already (state "${tier.stateAt(from)}")` : ms(x);
    return goalRow(label, x, shown, outGoal);
  };
  const opened = (from: number, to: number) => {
    const x = opens.find((o) => o >= from && o < to);
    return x === undefined ? "did not open" : ms(x - from);
  };
  const opensUp = opens.filter((o) => o < t.stall!).length;
  return {
    method: [
      `Part 2, under load: ${WORKERS} workers, each request 95 % \`sum\` of one of ${ORGS} orgs (skewed) and 5 % \`create\`, through FinanceRepository. ` +
        `Baseline: a router with CACHE_ENABLED=false for ${phaseMs / 1000} s. Then a router with the cache on and Redis as its shared tier (all else default): ` +
        `${phaseMs / 1000} s with Redis up, Redis frozen (SIGSTOP) for ${outageMs / 1000} s, thawed and left until the tier reports "ok", ` +
        `then killed (SIGKILL) for ${outageMs / 1000} s, restarted empty, and ${phaseMs / 1000} s more.`,
    ],
    tables: [
      {
        title:
          "Part 2: requests by phase (p99 goal: the uncached p99 plus CACHE_TIMEOUT)",
        headers: [
          "phase",
          "requests",
          "failed",
          "read p50 ms",
          "read p99 ms",
          "goal",
          "verdict",
        ],
        rows: [
          phase("cache off (baseline)", base, false),
          phase("cache + Redis, Redis up", up, false),
          phase("cache + Redis, Redis frozen (SIGSTOP)", stalled, true),
          phase("cache + Redis, Redis killed (SIGKILL)", killed, true),
          phase("cache + Redis, after the restart", after, false),
        ],
      },
      {
        title: "Part 2: the breaker under load",
        headers: [...GOAL_HEADERS],
        rows: [
          outOfUse('SIGSTOP → tier out of use (not "ok")', t.stall!, t.resume!),
          ["… the breaker opened after", opened(t.stall!, t.resume!), "–", ""],
          outOfUse('SIGKILL → tier out of use (not "ok")', t.kill!, t.restart!),
          ["… the breaker opened after", opened(t.kill!, t.restart!), "–", ""],
          goalRow(
            'SIGCONT → tier "ok" again',
            t.okAfterStall! - t.resume!,
            ms(t.okAfterStall! - t.resume!),
            backGoal,
          ),
          goalRow(
            'restart → tier "ok" again',
            t.okAfterKill! - t.restart!,
            ms(t.okAfterKill! - t.restart!),
            backGoal,
          ),
          [
            "breaker openings with Redis up, before SIGSTOP",
            fmtInt(opensUp),
            "–",
            "",
          ],
          goalRow(
            `shared-tier hits in the ${phaseMs / 1000} s after it is "ok" again`,
            hitsAfter,
            fmtInt(hitsAfter),
            { text: "> 0", ok: (x) => x > 0 },
          ),
        ],
      },
    ],
    notes: [
      `Breaker openings seen: ${opens.length}. "ok" means the breaker closed and the epochs bumped after the invalidations lost meanwhile; ` +
        "the state is polled every 5 ms. With Redis up, a call past CACHE_TIMEOUT (CPU contention) also counts as a failure, so the tier may already be out of use when the fault starts. " +
        `The tier is retried ${OPEN_MS / 1000} s after the breaker opened: after an outage shorter than that, it serves again about when those ${OPEN_MS / 1000} s are up ` +
        '("status" shows "recovering" rather than "open" while an invalidation is lost).',
    ],
  };
}

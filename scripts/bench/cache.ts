/**
 * Scenario: the query-result cache (issue 13). A Zipf-distributed finance
 * mix over 1,000 orgs through FinanceRepository, with three routers on the
 * same cluster in one process: cache off, in-process tier only, and the
 * in-process tier in front of Redis (a redis-server started here on a free
 * 127.0.0.1 port, stopped at the end). Measures hit rate, read latency and
 * the statements that still reach a replica per read request.
 */
import { performance } from "node:perf_hooks";
import { RedisStore } from "../../backend/database/router/cache/redis_store";
import { parseLsn } from "../../backend/database/router/lag/lag_tracker";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import { FinanceRepository } from "../../backend/finance/finance_repository";
import { startRedis, type BenchRedis } from "./redis_server";
import { renderCacheSection } from "./cache_report";
import { ORGS, sequence, type Sequence } from "./cache_sequence";
import { drive, newTally, observers, type Tally } from "./cache_workload";
import type { BenchContext, Section } from "./common";
import { fmtInt, rotate, sleep } from "./common";
import { sqlOnce, startRouter, waitForReplicas } from "./db";

const CONCURRENCY = 16;
/** Revenues given to each org the shared seed does not cover (101..ORGS). */
const ROWS_PER_ORG = 100;

/** One router under test. */
interface CacheMode {
  readonly name: string;
  readonly router: ReplicaRouter;
  readonly repo: FinanceRepository;
  /** Does this router cache (so each segment starts from an empty, consistent cache)? */
  readonly caches: boolean;
  /** Where its observers count; null while warming up. */
  readonly slot: { tally: Tally | null };
}

/** Scenario entry point. */
export async function cache(ctx: BenchContext): Promise<Section> {
  const rounds = ctx.quick ? 2 : 4;
  const segmentMs = ctx.quick ? 2_000 : 5_000;
  const warmupMs = ctx.quick ? 500 : 1_500;
  // Far more requests than a segment can issue here; the deadline ends it.
  const maxRequests = ctx.quick ? 100_000 : 250_000;

  const seed = await seedOrgs(ctx);
  const modes: CacheMode[] = [];
  let redis: BenchRedis | null = null;
  const tallies = new Map<string, Tally[]>();
  const sequences: Sequence[] = [];
  try {
    redis = await startRedis();
    const env = { DB_MAX_CONNECTIONS: "20" };
    const add = async (
      name: string,
      extraEnv: Record<string, string>,
      sharedCache: RedisStore | undefined,
    ) => {
      const slot: CacheMode["slot"] = { tally: null };
      const router = await startRouter(
        ctx.cluster,
        ctx.cluster.replicas,
        { ...env, ...extraEnv },
        {
          ...observers(() => slot.tally),
          ...(sharedCache === undefined ? {} : { sharedCache }),
        },
      );
      modes.push({
        name,
        router,
        repo: new FinanceRepository(router),
        caches: extraEnv.CACHE_ENABLED !== "false",
        slot,
      });
      tallies.set(name, []);
    };
    await add("cache off", { CACHE_ENABLED: "false" }, undefined);
    await add("memory", {}, undefined);
    await add("memory + Redis", {}, new RedisStore(redis.url));

    for (let r = 0; r < rounds; r++) {
      // Every mode replays the same sequence in a round; rounds differ.
      const seq = sequence(1_000 + r, maxRequests);
      sequences.push(seq);
      const warmup = sequence(2_000 + r, maxRequests);
      for (const m of rotate(modes, r)) {
        ctx.log(`cache: round ${r + 1}/${rounds}, ${m.name}`);
        if (m.caches) await resetCache(ctx, m.router);
        const common = { repo: m.repo, concurrency: CONCURRENCY };
        await drive({
          ...common,
          seq: warmup,
          durationMs: warmupMs,
          tally: null,
        });
        const tally = newTally(maxRequests);
        m.slot.tally = tally;
        await drive({ ...common, seq, durationMs: segmentMs, tally });
        m.slot.tally = null;
        tallies.get(m.name)!.push(tally);
      }
    }
  } finally {
    await Promise.allSettled(modes.map((m) => m.router.close()));
    await redis?.stop();
  }
  return renderCacheSection({
    modes: modes.map((m) => m.name),
    tallies,
    sequences,
    rounds,
    segmentMs,
    warmupMs,
    concurrency: CONCURRENCY,
    seedNote: `Seeding ${fmtInt(seed.rows)} revenues for orgs ${seed.first}..${ORGS} took ${(seed.ms / 1000).toFixed(1)} s (replicas caught up included).`,
  });
}

/**
 * Gives orgs the shared seed leaves empty (101..{@link ORGS}) about as many
 * revenues as the seeded ones have, so every org's sum and first page cost
 * alike. @returns the first org seeded, rows inserted, and ms taken
 * (replicas caught up).
 */
async function seedOrgs(
  ctx: BenchContext,
): Promise<{ first: number; rows: number; ms: number }> {
  const t0 = performance.now();
  const first = Math.max(0, ...ctx.seed.orgIds) + 1;
  const n = (ORGS - first + 1) * ROWS_PER_ORG;
  const url = ctx.cluster.primary.url;
  ctx.log(`cache: seeding ${fmtInt(n)} revenues for orgs ${first}..${ORGS}`);
  await sqlOnce(
    url,
    `INSERT INTO revenues (org_id, amount_cents, currency, status, description, occurred_at)
     SELECT ${first} + (g % ${ORGS - first + 1}), (g::bigint * 7919) % 1000000, (ARRAY['USD','EUR','GBP'])[1 + g % 3],
            (ARRAY['pending','received','cancelled'])[1 + (g / 7) % 3], 'cache seed ' || g,
            timestamptz '2025-01-01 00:00:00+00' + g * interval '37 minutes'
     FROM generate_series(1, ${n}) AS g`,
  );
  await sqlOnce(url, "VACUUM ANALYZE revenues");
  await waitForReplicas(ctx.cluster);
  return { first, rows: n, ms: performance.now() - t0 };
}

/**
 * Starts a segment from an empty cache that is consistent with the
 * database: the other routers' writes (earlier segments) did not
 * invalidate this one's entries. Switching the cache off and on is the
 * documented way (local tier cleared, shared epochs bumped and fenced at
 * the primary's position). Then waits (at most 5 s) until the router has
 * seen both replicas replay past that fence; before that no fill could be
 * stored and the segment would open with a stretch of `behind_fence`.
 */
async function resetCache(
  ctx: BenchContext,
  router: ReplicaRouter,
): Promise<void> {
  await router.cache.setEnabled(false);
  await router.cache.setEnabled(true);
  const [row] = await sqlOnce<{ lsn: string }>(
    ctx.cluster.primary.url,
    "SELECT pg_current_wal_lsn()::text AS lsn",
  );
  const fence = parseLsn(row!.lsn);
  const replicas = router.clusters[0]!.replicas;
  for (let i = 0; i < 100; i++) {
    if (replicas.every((n) => n.replayedLsn >= fence)) return;
    await sleep(50);
  }
  ctx.log("cache: replicas not seen past the reset fence within 5 s");
}

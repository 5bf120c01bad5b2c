/**
 * The hot path against its floor, in one run on the bench's cluster
 * (primary + 2 replicas) with the router's defaults (issue 21): reads
 * (hot_path_reads.ts), writes (hot_path_writes.ts) and token reads
 * (hot_path_tokens.ts), each at c = 1, 16 and 64 with an A/A control and
 * DESIGN.md's hot-path goals beside the rows. Runs as the first part of
 * the `overhead` scenario, and alone (also at older commits) through
 * hot_path_main.ts.
 */
import v8 from "node:v8";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { BenchContext, Table } from "./common";
import { fmtInt } from "./common";
import { sqlOnce, waitForReplicas } from "./db";
import { defaultRouter } from "./hot_path_api";
import { POOL_MAX, reads } from "./hot_path_reads";
import { ROWS, shape } from "./hot_path_rounds";
import { tokenReads } from "./hot_path_tokens";
import { writes } from "./hot_path_writes";

/** The hot path's part of a section. */
export interface HotPathPart {
  readonly method: string[];
  readonly tables: Table[];
  readonly notes: string[];
}

/** Creates hot_path_bench with {@link ROWS} rows and waits for both replicas to have it. */
async function createTable(ctx: BenchContext): Promise<void> {
  const url = ctx.cluster.primary.url;
  await sqlOnce(url, "DROP TABLE IF EXISTS hot_path_bench");
  await sqlOnce(
    url,
    "CREATE TABLE hot_path_bench (id int PRIMARY KEY, org_id int NOT NULL, n int NOT NULL, v text NOT NULL)",
  );
  await sqlOnce(
    url,
    "INSERT INTO hot_path_bench SELECT g, 1 + g % 100, 0, md5(g::text) FROM generate_series(1, $1) g",
    [ROWS],
  );
  await sqlOnce(url, "VACUUM ANALYZE hot_path_bench");
  await waitForReplicas(ctx.cluster);
}

/** Measures reads, writes and token reads; @returns the method, tables and notes. */
export async function hotPath(ctx: BenchContext): Promise<HotPathPart> {
  // A variant idle while the others run must not lose its compiled code (V8
  // flushes the bytecode of functions unused for a few GCs); in a service
  // the hot path never idles that long.
  v8.setFlagsFromString("--no-flush-bytecode");
  const s = shape(ctx);
  await createTable(ctx);
  const routers: ReplicaRouter[] = [];
  try {
    const router = await defaultRouter(ctx.cluster);
    routers.push(router.router);
    const noHedge = await defaultRouter(ctx.cluster, {
      REPLICA_HEDGE_MAX_EXTRA_LOAD: "0",
    });
    routers.push(noHedge.router);
    const r = await reads(ctx, { router, noHedge }, s);
    const w = await writes(ctx, router.router, s);
    const t = await tokenReads(ctx, router.router, s);
    return {
      method: [
        `Table \`hot_path_bench\` (${fmtInt(ROWS)} rows: id primary key, org_id, n, v), on the bench's primary and its 2 ` +
          "streaming replicas. The routers are built as `npm start` builds them: `loadConfig` with only DATABASE_URL and " +
          "READ_REPLICA_URLS (both replicas) set, every other setting at its default (round-robin, hedging at " +
          "REPLICA_HEDGE_MAX_EXTRA_LOAD 0.05, cache on, lag poll 1 s), the Prometheus RouterMetrics observer attached. " +
          `Plain pools have ${POOL_MAX} connections, DB_MAX_CONNECTIONS' default, as the routers' pools.`,
        `Per concurrency (c = 1, 16, 64 workers, each issuing its next operation as the last one completes), ${s.rounds} rounds; ` +
          `each round runs every variant alone for ${s.segmentMs} ms, in a fresh shuffled order, so load that drifts ` +
          "over seconds hits them alike. Per-round figures are compared with the base variant's of the same round " +
          "(÷floor, ÷plain: ratio of operations/s; CPU −: difference of this process's user+system CPU per operation, from " +
          "process.cpuUsage(), covering client, router and pg driver); tables show the medians over rounds with their " +
          "interquartile range (IQR), p50/p99 are medians over rounds of each segment's percentile. Each table has an A/A " +
          "variant doing exactly the base's work on pools of its own: a goal counts as met or missed only when the whole IQR " +
          "is on one side of it, and only when the A/A control's IQR (mirrored around its true value) stays inside the " +
          "goal's margin; otherwise the verdict says the machine cannot resolve it. Concurrent workers never touch the " +
          "same row (worker w uses ids w+1 + c·k). Reads are measured first and outside any request context; writes " +
          "with a token run inside one (`runWithRequestContext`), as the HTTP layers do.",
      ],
      tables: [r.table, w.table, t.table],
      notes: [...r.notes, ...w.notes, ...t.notes],
    };
  } finally {
    await Promise.allSettled(routers.map((x) => x.close()));
    await sqlOnce(
      ctx.cluster.primary.url,
      "DROP TABLE IF EXISTS hot_path_bench",
    ).catch(() => undefined);
  }
}

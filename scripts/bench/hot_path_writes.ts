/**
 * Hot path, writes: a single-row UPDATE by primary key on the primary
 * (autocommit), at c = 1, 16 and 64:
 *   plain pg       a `pg.Pool` of the default size on the primary;
 *   plain pg A/A   the same on a pool of its own (the harness's noise);
 *   router         `getWriteConnection(orgId).queryRow`, defaults (cache on);
 *   router + token the same in a request that wants a consistency token,
 *                  then `tokenAfterWrite` as the HTTP layers ask for it.
 * Goal (DESIGN.md: a write sends nothing beyond the caller's statement):
 * both router rows ≥ 0.95 of plain pg's writes/s, i.e. at most 1.05 × its
 * time per write.
 */
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { BenchContext, Table } from "./common";
import { fmt, fmtInt, verdict, withIqr } from "./common";
import { plainPool } from "./db";
import { writeWithToken } from "./hot_path_api";
import { POOL_MAX } from "./hot_path_reads";
import {
  allOf,
  med,
  perRound,
  runRounds,
  type Shape,
  type Variant,
  warmUp,
} from "./hot_path_rounds";

const SQL = "UPDATE hot_path_bench SET n = n + 1 WHERE id = $1 RETURNING n";
const CONCURRENCY = [1, 16, 64] as const;
const GOAL = "≥ 0.95 × plain (≤ 1.05 × its time)";

/** The router's write of row `id`: the same statement as plain pg's. */
export function routerWrite(
  router: ReplicaRouter,
  id: number,
): Promise<{ n: number } | null> {
  return router.getWriteConnection(1 + (id % 100)).queryRow<{
    n: number;
  }>`UPDATE hot_path_bench SET n = n + 1 WHERE id = ${id} RETURNING n`;
}

/** The router's write of row `id` in a request that wants a token, and the token; throws when there is none. */
export async function routerWriteWithToken(
  router: ReplicaRouter,
  id: number,
): Promise<{ n: number; token: string }> {
  const { result, token } = await writeWithToken(router, () =>
    routerWrite(router, id),
  );
  if (result === null) throw new Error(`row ${id} is missing`);
  if (token === null) throw new Error("no consistency token after a write");
  return { n: result.n, token };
}

/** Measures the write variants; @returns their table and notes. */
export async function writes(
  ctx: BenchContext,
  router: ReplicaRouter,
  s: Shape,
): Promise<{ table: Table; notes: string[] }> {
  const plain = plainPool(ctx.cluster.primary.url, POOL_MAX);
  const plainAA = plainPool(ctx.cluster.primary.url, POOL_MAX);
  const variants: Variant[] = [
    { name: "plain pg", op: (id) => plain.query(SQL, [id]) },
    { name: "plain pg A/A", op: (id) => plainAA.query(SQL, [id]) },
    { name: "router", op: (id) => routerWrite(router, id) },
    {
      name: "router + token",
      op: (id) => routerWriteWithToken(router, id),
    },
  ];
  const rows: string[][] = [];
  const noise: string[] = [];
  let errors = 0;
  try {
    await warmUp(variants, ctx.quick ? 200 : 500);
    for (const c of CONCURRENCY) {
      ctx.log(`hot path: writes at c=${c}`);
      const results = await runRounds(variants, c, s);
      const base = results.get("plain pg")!;
      const ratio = (x: typeof base) =>
        perRound(x, base, (a, b) => a.rate / b.rate);
      const extra = (x: typeof base) =>
        perRound(x, base, (a, b) => a.cpuUs - b.cpuUs);
      const control = {
        values: ratio(results.get("plain pg A/A")!),
        neutral: 1,
      };
      for (const v of variants) {
        const segs = results.get(v.name)!;
        const isBase = v.name === "plain pg";
        const isRouter = v.name.startsWith("router");
        errors += segs.reduce((a, x) => a + x.errors, 0);
        rows.push([
          String(c),
          v.name,
          isBase ? "1" : withIqr(ratio(segs), 3),
          fmtInt(med(segs, (x) => x.rate)),
          fmt(
            med(segs, (x) => x.cpuUs),
            1,
          ),
          isBase ? "" : withIqr(extra(segs), 1, true),
          fmt(
            med(segs, (x) => x.p50),
            2,
          ),
          fmt(
            med(segs, (x) => x.p99),
            2,
          ),
          isRouter ? GOAL : "–",
          isRouter
            ? allOf([
                ["throughput", verdict(ratio(segs), (x) => x >= 0.95, control)],
              ])
            : "",
        ]);
      }
      noise.push(`c=${c}: ÷plain ${withIqr(control.values, 3)}`);
    }
  } finally {
    await Promise.allSettled([plain.end(), plainAA.end()]);
  }
  return {
    table: {
      title: `Writes: single-row UPDATE by primary key, autocommit (${s.rounds} rounds × ${s.segmentMs} ms per variant and concurrency)`,
      headers: [
        "c",
        "variant",
        "÷plain (IQR)",
        "writes/s",
        "client CPU µs/write",
        "CPU − plain µs (IQR)",
        "p50 ms",
        "p99 ms",
        "goal",
        "verdict",
      ],
      rows,
    },
    notes: [
      `Writes A/A control (plain pg A/A against plain pg; its true value is 1): ${noise.join("; ")}.`,
      `Failed writes (a missing token counts): ${fmtInt(errors)}.`,
    ],
  };
}

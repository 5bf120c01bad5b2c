/**
 * Hot path, token reads: each operation writes a row through the router in
 * a request that wants a token (as hot_path_writes.ts), then reads that row
 * back; only the read is timed. Variants differ in the read alone:
 *   token read     `{ level: "read_your_writes", token }`;
 *   eventual read  the default consistency (may miss the write);
 *   eventual A/A   the same again (the harness's noise).
 * A read is stale when the row is missing or older than the write. Goal:
 * token reads' median read time ≤ 1.1 × eventual reads' (per-round ratio
 * of medians), and 0 stale.
 */
import { performance } from "node:perf_hooks";
import { parseToken } from "../../backend/database/router/consistency/consistency";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { BenchContext, Table } from "./common";
import { fmt, fmtInt, pct, verdict, withIqr } from "./common";
import { guardMisses } from "./hot_path_api";
import {
  allOf,
  med,
  perRound,
  runRounds,
  total,
  type Shape,
  type Variant,
  warmUp,
} from "./hot_path_rounds";
import { routerWriteWithToken } from "./hot_path_writes";

const CONCURRENCY = [1, 16, 64] as const;
const GOAL = "p50 ≤ 1.1 × eventual, 0 stale";

function variant(
  name: string,
  router: ReplicaRouter,
  withToken: boolean,
): Variant {
  const primary = router.clusters[0]!.primary.name;
  const seen = { reads: 0, stale: 0, onReplica: 0 };
  return {
    name,
    timesItself: true,
    counters: () => ({ ...seen, guardMisses: guardMisses(router) ?? NaN }),
    op: async (id) => {
      const { n, token } = await routerWriteWithToken(router, id);
      const orgId = 1 + (id % 100);
      const t0 = performance.now();
      const db = router.getReadConnection(
        withToken
          ? {
              orgId,
              consistency: {
                level: "read_your_writes",
                token: parseToken(token),
              },
            }
          : { orgId },
      );
      const row = await db.queryRow<{
        n: number;
      }>`SELECT n FROM hot_path_bench WHERE id = ${id}`;
      const ms = performance.now() - t0;
      seen.reads++;
      if (row === null || row.n < n) seen.stale++;
      if (db.servedBy !== null && db.servedBy !== primary) seen.onReplica++;
      return ms;
    },
  };
}

/** Measures token reads against eventual reads; @returns their table and notes. */
export async function tokenReads(
  ctx: BenchContext,
  router: ReplicaRouter,
  s: Shape,
): Promise<{ table: Table; notes: string[] }> {
  const variants = [
    variant("token read", router, true),
    variant("eventual read", router, false),
    variant("eventual A/A", router, false),
  ];
  const counted = guardMisses(router) !== null;
  const rows: string[][] = [];
  const noise: string[] = [];
  let errors = 0;
  await warmUp(variants, ctx.quick ? 200 : 500);
  for (const c of CONCURRENCY) {
    ctx.log(`hot path: token reads at c=${c}`);
    const results = await runRounds(variants, c, s);
    const base = results.get("eventual read")!;
    const ratio = (x: typeof base) =>
      perRound(x, base, (a, b) => a.p50 / b.p50);
    const control = { values: ratio(results.get("eventual A/A")!), neutral: 1 };
    for (const v of variants) {
      const segs = results.get(v.name)!;
      const isBase = v === variants[1];
      const isToken = v === variants[0];
      const stale = total(segs, "stale");
      errors += segs.reduce((a, x) => a + x.errors, 0);
      rows.push([
        String(c),
        v.name,
        fmt(1000 * med(segs, (x) => x.p50), 0),
        isBase ? "1" : withIqr(ratio(segs), 3),
        fmtInt(med(segs, (x) => x.timedRate)),
        fmt(
          med(segs, (x) => x.p99),
          2,
        ),
        `${fmtInt(stale)} (${pct(stale, total(segs, "reads"), 1)})`,
        pct(total(segs, "onReplica"), total(segs, "reads"), 1),
        counted ? fmtInt(total(segs, "guardMisses")) : "—",
        isToken ? GOAL : "–",
        isToken
          ? allOf([
              ["latency", verdict(ratio(segs), (x) => x <= 1.1, control)],
              ["stale", stale === 0 ? "met" : "missed"],
            ])
          : "",
      ]);
    }
    noise.push(`c=${c}: ÷eventual ${withIqr(control.values, 3)}`);
  }
  return {
    table: {
      title: `Token reads vs eventual reads: write a row (router, wants a token), read it back; only the read timed (${s.rounds} rounds × ${s.segmentMs} ms per variant and concurrency)`,
      headers: [
        "c",
        "variant",
        "read p50 µs",
        "÷eventual p50 (IQR)",
        "reads/s of the read part",
        "read p99 ms",
        "stale",
        "on a replica",
        "guard misses",
        "goal",
        "verdict",
      ],
      rows,
    },
    notes: [
      `Token reads A/A control (eventual A/A's median read time against eventual's; its true value is 1): ${noise.join("; ")}.`,
      '"reads/s of the read part" is c ÷ the mean read time: what the workers would do if they only read. "guard misses": ' +
        "read-your-writes checks that found a replica behind its token (DbNode.guardMisses, summed over both replicas; " +
        `"—" where the router does not count them). Failed operations (write, token or read): ${fmtInt(errors)}.`,
    ],
  };
}

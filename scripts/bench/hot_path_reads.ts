/**
 * Hot path, reads: a point read by primary key over both replicas against
 * the floor, a plain round-robin over one `pg.Pool` per replica (the least
 * any router must do), at c = 1, 16 and 64:
 *   direct    one `pg.Pool` on replica 1;
 *   floor     round-robin over one `pg.Pool` per replica;
 *   floor A/A the floor again on pools of its own (the harness's noise);
 *   router    `getReadConnection({ orgId }).queryRow`, defaults, metrics;
 *   no hedge  the same with REPLICA_HEDGE_MAX_EXTRA_LOAD=0.
 * Goal of the routers (DESIGN.md's hot-path budget): ≥ 0.95 of the
 * floor's reads/s and at most 5 µs more client CPU per read.
 */
import type pg from "pg";
import type { BenchContext, Table } from "./common";
import { fmt, fmtInt, pct, verdict, withIqr } from "./common";
import { plainPool } from "./db";
import type { BenchRouter } from "./hot_path_api";
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

/** Pool size of every plain pool: DB_MAX_CONNECTIONS' default, what the routers use. */
export const POOL_MAX = 20;
const SQL = "SELECT id, org_id, n, v FROM hot_path_bench WHERE id = $1";
const CONCURRENCY = [1, 16, 64] as const;
const GOAL = "≥ 0.95 × floor, ≤ +5 µs CPU";

/** The routers under test. */
export interface Routers {
  /** Defaults and metrics, as `npm start` runs it. */
  readonly router: BenchRouter;
  /** The same with REPLICA_HEDGE_MAX_EXTRA_LOAD=0. */
  readonly noHedge: BenchRouter;
}

function routerVariant(name: string, { router, hedges }: BenchRouter): Variant {
  return {
    name,
    counters: () => ({ hedges: hedges() }),
    op: (id) =>
      router.getReadConnection({ orgId: 1 + (id % 100) })
        .queryRow`SELECT id, org_id, n, v FROM hot_path_bench WHERE id = ${id}`,
  };
}

/** Measures the read variants; @returns their table and notes. */
export async function reads(
  ctx: BenchContext,
  routers: Routers,
  s: Shape,
): Promise<{ table: Table; notes: string[] }> {
  const urls = ctx.cluster.replicas.map((r) => r.url);
  const pools: pg.Pool[] = [];
  const pool = (url: string) => {
    const p = plainPool(url, POOL_MAX);
    pools.push(p);
    return p;
  };
  const one = pool(urls[0]!);
  const rr = urls.map(pool);
  const rr2 = urls.map(pool);
  let next = 0;
  let next2 = 0;
  const variants: Variant[] = [
    { name: "direct (replica 1)", op: (id) => one.query(SQL, [id]) },
    {
      name: "floor",
      op: (id) => rr[next++ % rr.length]!.query(SQL, [id]),
    },
    {
      name: "floor A/A",
      op: (id) => rr2[next2++ % rr2.length]!.query(SQL, [id]),
    },
    routerVariant("router", routers.router),
    routerVariant("router, no hedge", routers.noHedge),
  ];
  const rows: string[][] = [];
  const noise: string[] = [];
  let errors = 0;
  try {
    await warmUp(variants, ctx.quick ? 200 : 500);
    for (const c of CONCURRENCY) {
      ctx.log(`hot path: reads at c=${c}`);
      const results = await runRounds(variants, c, s);
      const floor = results.get("floor")!;
      const aa = results.get("floor A/A")!;
      const ratio = (x: typeof floor) =>
        perRound(x, floor, (a, b) => a.rate / b.rate);
      const extra = (x: typeof floor) =>
        perRound(x, floor, (a, b) => a.cpuUs - b.cpuUs);
      const control = {
        ratio: { values: ratio(aa), neutral: 1 },
        cpu: { values: extra(aa), neutral: 0 },
      };
      for (const v of variants) {
        const segs = results.get(v.name)!;
        const isFloor = v.name === "floor";
        const isRouter = v.counters !== undefined;
        const r = ratio(segs);
        const d = extra(segs);
        errors += segs.reduce((a, x) => a + x.errors, 0);
        rows.push([
          String(c),
          v.name,
          isFloor ? "1" : withIqr(r, 3),
          fmtInt(med(segs, (x) => x.rate)),
          fmt(
            med(segs, (x) => x.cpuUs),
            1,
          ),
          isFloor ? "" : withIqr(d, 1, true),
          fmt(
            med(segs, (x) => x.p99),
            2,
          ),
          isRouter
            ? pct(
                total(segs, "hedges"),
                segs.reduce((a, x) => a + x.ops, 0),
                2,
              )
            : "",
          isRouter ? GOAL : "–",
          isRouter
            ? allOf([
                ["throughput", verdict(r, (x) => x >= 0.95, control.ratio)],
                ["CPU", verdict(d, (x) => x <= 5, control.cpu)],
              ])
            : "",
        ]);
      }
      noise.push(
        `c=${c}: ÷floor ${withIqr(control.ratio.values, 3)}, CPU ${withIqr(control.cpu.values, 1, true)} µs`,
      );
    }
  } finally {
    await Promise.allSettled(pools.map((p) => p.end()));
  }
  return {
    table: {
      title: `Reads: point read by primary key over 2 replicas (${s.rounds} rounds × ${s.segmentMs} ms per variant and concurrency)`,
      headers: [
        "c",
        "variant",
        "÷floor (IQR)",
        "reads/s",
        "client CPU µs/read",
        "CPU − floor µs (IQR)",
        "p99 ms",
        "hedged",
        "goal",
        "verdict",
      ],
      rows,
    },
    notes: [
      `Reads A/A control (floor A/A against the floor; its true value is 1 and +0): ${noise.join("; ")}. ` +
        "A goal is judged only when this spread is inside the goal's margin.",
      `Failed reads: ${fmtInt(errors)}.`,
    ],
  };
}

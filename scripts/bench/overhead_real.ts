/**
 * Scenario 1, real-database part: the same point read by primary key against
 * ONE replica, five ways with the same pool size, at concurrency 1, 16 and 64:
 *   plain pool    a `pg.Pool` with only `max` (and the router's idle timeout) set,
 *                 twice: the second copy is an A/A control, i.e. the noise floor;
 *   router's pool a `pg.Pool` built by the router's own factory (same
 *                 statement/query timeouts, keep-alive, application_name), to
 *                 separate pool settings from routing;
 *   router        `router.getReadConnection({ orgId }).queryRow\`...\``, round-robin
 *                 over one replica, without an observer, and with the
 *                 Prometheus observer attached as the service does.
 * Throughput and client CPU come from short solo segments in rotated order;
 * latency from all variants interleaved operation by operation.
 */
import { RouterMetrics } from "../../backend/database/metrics";
import { createPgPool } from "../../backend/database/router/nodes/pg_pool";
import type { BenchContext, Table } from "./common";
import {
  fmt,
  fmtInt,
  median,
  percentile,
  POINT_SQL,
  rng,
  rotate,
  runInterleaved,
  runLoad,
  signed,
  verdict,
  withIqr,
} from "./common";
import { plainPool, startRouter } from "./db";

/** Pool size of every variant (DB_MAX_CONNECTIONS for the routers). */
export const POOL_SIZE = 20;
const CONCURRENCIES = [1, 16, 64] as const;

/** Name of the A/A control variant: a second pool identical to the plain pool. */
const AA = "plain pool again (A/A)";

/** How the real-database part was run, for the method text. */
export interface RealRunShape {
  rounds: number;
  segmentMs: number;
  latencyMs: number;
  latencyChunks: number;
}

/** Per-round throughput ratios of `name` against `base`. */
function ratios(
  results: Map<string, { ratesPerRound: number[] }>,
  name: string,
  base: readonly number[],
): number[] {
  return results.get(name)!.ratesPerRound.map((x, i) => x / base[i]!);
}

/** Measures the five variants; appends the table and notes. */
export async function realDatabase(
  ctx: BenchContext,
  tables: Table[],
  notes: string[],
): Promise<RealRunShape> {
  const replica = ctx.cluster.replicas[0]!;
  // Many short rounds: external load drifts on a scale of seconds, so
  // variants interleaved every ~200 ms see nearly the same machine.
  const rounds = ctx.quick ? 5 : 16;
  const segmentMs = ctx.quick ? 150 : 200;
  const latencyMs = ctx.quick ? 600 : 2_500;
  const latencyChunks = ctx.quick ? 3 : 5;
  const metrics = new RouterMetrics({ defaultMetrics: false });
  const router = await startRouter(
    ctx.cluster,
    [replica],
    {
      LOAD_BALANCING_STRATEGY: "round-robin",
      DB_MAX_CONNECTIONS: String(POOL_SIZE),
    },
    { observer: metrics },
  );
  metrics.attach(router);
  const bare = await startRouter(ctx.cluster, [replica], {
    LOAD_BALANCING_STRATEGY: "round-robin",
    DB_MAX_CONNECTIONS: String(POOL_SIZE),
  });
  // Same idle timeout as the router's pools (DB_MAX_IDLE_TIME), so neither side reconnects between phases.
  const plain = plainPool(
    replica.url,
    POOL_SIZE,
    router.config.pool.idleTimeoutMs,
  );
  // A/A control: a second pool identical to `plain`; its deviation is this machine's noise floor.
  const plainB = plainPool(
    replica.url,
    POOL_SIZE,
    router.config.pool.idleTimeoutMs,
  );
  const routersPool = createPgPool(
    replica.url,
    router.config.pool,
    "bench-direct",
  );
  routersPool.on("error", () => {});
  const { orgOf, idOf } = ctx.seed;
  const keys = orgOf.length;
  const rand = rng(42);
  const variants: Array<{ name: string; op: () => Promise<unknown> }> = [
    {
      name: "plain pool",
      op: async () => {
        const k = Math.floor(rand() * keys);
        return (
          (await plain.query(POINT_SQL, [orgOf[k], idOf[k]])).rows[0] ?? null
        );
      },
    },
    {
      name: "plain pool again (A/A)",
      op: async () => {
        const k = Math.floor(rand() * keys);
        return (
          (await plainB.query(POINT_SQL, [orgOf[k], idOf[k]])).rows[0] ?? null
        );
      },
    },
    {
      name: "router's pool",
      op: async () => {
        const k = Math.floor(rand() * keys);
        return (
          (await routersPool.query(POINT_SQL, [orgOf[k], idOf[k]])).rows[0] ??
          null
        );
      },
    },
    {
      name: "router, no observer",
      op: () => {
        const k = Math.floor(rand() * keys);
        const orgId = orgOf[k]!;
        const id = idOf[k]!;
        return bare.getReadConnection({ orgId })
          .queryRow`SELECT id, amount_cents, currency, status FROM revenues WHERE org_id = ${orgId} AND id = ${id}`;
      },
    },
    {
      name: "router + RouterMetrics",
      op: () => {
        const k = Math.floor(rand() * keys);
        const orgId = orgOf[k]!;
        const id = idOf[k]!;
        return router.getReadConnection({ orgId })
          .queryRow`SELECT id, amount_cents, currency, status FROM revenues WHERE org_id = ${orgId} AND id = ${id}`;
      },
    },
  ];
  try {
    // Warm-up: open every pool connection and let the JIT settle.
    for (const v of variants)
      await runLoad({
        concurrency: 64,
        durationMs: ctx.quick ? 200 : 400,
        maxOps: 100_000,
        op: v.op,
      });
    const readsBefore = router.clusters[0]!.replicas[0]!.reads;
    const bareBefore = bare.clusters[0]!.replicas[0]!.reads;
    const rows: string[][] = [];
    const goals: string[] = [];
    const noise: string[] = [];
    let errors = 0;
    for (const c of CONCURRENCIES) {
      ctx.log(`overhead: concurrency ${c}`);
      const results = new Map<
        string,
        { ratesPerRound: number[]; cpuUsPerRead: number[] }
      >(variants.map((v) => [v.name, { ratesPerRound: [], cpuUsPerRead: [] }]));
      // Throughput and client CPU: each variant alone, in short rotated segments.
      for (let r = 0; r < rounds; r++) {
        for (const v of rotate(variants, r)) {
          const cpu0 = process.cpuUsage();
          const res = await runLoad({
            concurrency: c,
            durationMs: segmentMs,
            maxOps: 400_000,
            op: v.op,
          });
          const cpu = process.cpuUsage(cpu0);
          errors += res.errors;
          const x = results.get(v.name)!;
          x.ratesPerRound.push((res.ops * 1000) / res.elapsedMs);
          x.cpuUsPerRead.push((cpu.user + cpu.system) / res.ops);
        }
      }
      // Latency: all variants at once, interleaved operation by operation, in chunks (for a spread).
      const chunks = Array.from(
        { length: variants.length },
        () => [] as Float64Array[],
      );
      const dP50ByChunk = variants.map(() => [] as number[]);
      for (let k = 0; k < latencyChunks; k++) {
        const inter = await runInterleaved({
          concurrency: c,
          durationMs: latencyMs / latencyChunks,
          maxOps: 400_000,
          ops: variants.map((v) => v.op),
        });
        errors += inter.errors;
        const base50 = percentile(inter.latenciesMs[0]!, 50);
        inter.latenciesMs.forEach((lat, vi) => {
          chunks[vi]!.push(lat);
          dP50ByChunk[vi]!.push((percentile(lat, 50) - base50) * 1000);
        });
      }
      const pooled = chunks.map((parts) => {
        const all = new Float64Array(parts.reduce((n, a) => n + a.length, 0));
        let at = 0;
        for (const a of parts) {
          all.set(a, at);
          at += a.length;
        }
        return all.sort();
      });
      const base = results.get("plain pool")!;
      const baseLat = pooled[0]!;
      variants.forEach((v, vi) => {
        const { ratesPerRound: rates, cpuUsPerRead: cpu } = results.get(
          v.name,
        )!;
        const lat = pooled[vi]!;
        const byRound = rates.map((x, i) => x / base.ratesPerRound[i]!);
        const dCpu = cpu.map((x, i) => x - base.cpuUsPerRead[i]!);
        const dP50 = dP50ByChunk[vi]!;
        const p50 = percentile(lat, 50) * 1000;
        const p99 = percentile(lat, 99) * 1000;
        const dP99 = p99 - percentile(baseLat, 99) * 1000;
        const isBase = vi === 0;
        rows.push([
          String(c),
          v.name,
          fmtInt(median(rates)),
          isBase ? "1" : withIqr(byRound, 3),
          fmt(median(cpu), 1),
          isBase ? "" : withIqr(dCpu, 1, true),
          fmt(p50, 0),
          fmt(p99, 0),
          isBase ? "" : withIqr(dP50, 0, true),
          isBase ? "" : signed(dP99, 0),
        ]);
        if (v.name === "router + RouterMetrics") {
          goals.push(
            `concurrency ${c}: router + RouterMetrics at ${fmt(100 * median(byRound), 1)} % of plain-pool throughput ` +
              `(goal ≥ 95 %: ${verdict(byRound, (x) => x >= 0.95, { values: ratios(results, AA, base.ratesPerRound), neutral: 1 })}); ` +
              `p50 overhead ${signed(median(dP50), 0)} µs (goal < 50 µs: ${verdict(dP50, (x) => x < 50, { values: dP50ByChunk[1]!, neutral: 0 })}); ` +
              `${signed(median(dCpu), 1)} µs of client CPU per read.`,
          );
        }
      });
      noise.push(
        `c=${c}: throughput ${withIqr(ratios(results, AA, base.ratesPerRound), 3)}, ` +
          `Δp50 ${withIqr(dP50ByChunk[1]!, 0, true)} µs`,
      );
    }
    const routed =
      router.clusters[0]!.replicas[0]!.reads -
      readsBefore +
      bare.clusters[0]!.replicas[0]!.reads -
      bareBefore;
    tables.push({
      title: "Point reads on one replica: plain pg.Pool vs the router",
      headers: [
        "concurrency",
        "variant",
        "reads/s",
        "vs plain (IQR)",
        "client CPU µs/read",
        "Δ CPU µs (IQR)",
        "p50 µs",
        "p99 µs",
        "Δp50 µs (IQR)",
        "Δp99 µs",
      ],
      rows,
    });
    notes.push(...goals);
    notes.push(
      'Noise floor: "plain pool again (A/A)" is a second pool identical to the plain pool, so any difference it shows ' +
        `is noise: ${noise.join("; ")}.`,
    );
    notes.push(
      `Reads the two routers sent to replica_1 during the measurements: ${fmtInt(routed)} (all of their reads; none fell back to the primary). Failed reads: ${errors}.`,
      "Client, router and the three PostgreSQL servers share 2 cores, so at concurrency 16 and 64 the Node process competes with " +
        "the replica for CPU: every µs of client CPU per read shows up as lost throughput there.",
    );
  } finally {
    await Promise.allSettled([
      router.close(),
      bare.close(),
      plain.end(),
      plainB.end(),
      routersPool.end(),
    ]);
  }
  return { rounds, segmentMs, latencyMs, latencyChunks };
}

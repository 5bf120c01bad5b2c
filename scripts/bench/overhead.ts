/**
 * Scenario 1, router overhead on point reads: against a real replica
 * (overhead_real.ts: plain pg.Pool vs the router at concurrency 1, 16, 64)
 * and without a database (overhead_cpu.ts: pure router CPU per read, and a
 * CPU profile of it).
 */
import type { BenchContext, Section, Table } from "./common";
import { fmt, fmtInt, POINT_SQL } from "./common";
import {
  areaTable,
  isolated,
  profileRouter,
  profileTable,
} from "./overhead_cpu";
import { POOL_SIZE, realDatabase } from "./overhead_real";

/** Scenario entry point. */
export async function overhead(ctx: BenchContext): Promise<Section> {
  const tables: Table[] = [];
  const notes: string[] = [];
  const real = await realDatabase(ctx, tables, notes);
  await isolated(ctx, tables, notes);
  const prof = await profileRouter(ctx);
  tables.push(profileTable(prof), areaTable(prof));
  notes.push(
    `Profile: ${fmtInt(prof.reads)} reads through router+metrics, sampled every 200 µs; only the measured loop (` +
      `${fmt(prof.summary.totalMs, 0)} ms) is counted. Lines point at the definition in the .ts source. Raw profile: \`${prof.file}\`.`,
  );
  return {
    id: "overhead",
    title: "Router overhead on point reads",
    method: [
      `Point read by primary key (\`${POINT_SQL}\`) of ${fmtInt(ctx.seed.idOf.length)} seeded revenues, against ONE replica ` +
        `(replica_1), pool size ${POOL_SIZE} everywhere. Throughput and client CPU: per concurrency, ${real.rounds} rounds; each ` +
        `round runs each variant alone for ${real.segmentMs} ms, in rotated order, so they interleave finely and drifting ` +
        `background load hits all variants alike. reads/s is the median over rounds of completed reads / wall time; "vs plain" ` +
        `is the median of the per-round ratios, with their interquartile range (IQR); client CPU is process.cpuUsage() (user+system of the bench process: router, ` +
        `pg driver, load loop) per completed read, median over rounds, Δ being the median of per-round differences. ` +
        `Latency: then ${real.latencyMs / 1000} s with all variants at once, each worker rotating through them ` +
        `operation by operation, so every variant sees exactly the same conditions; per-read performance.now(); p50/p99 ` +
        `from all samples; Δp50 is the median (IQR) over ${real.latencyChunks} consecutive chunks of the per-chunk ` +
        `difference to the plain pool, Δp99 the difference of the pooled p99s. A goal counts as met or missed only when ` +
        `the whole IQR is on one side of it, and only when the A/A control (a second, identical plain pool) deviates by ` +
        `less than the goal's margin (in either direction); otherwise the machine cannot resolve it and the note says so.`,
      `The routers run \`router.getReadConnection({ orgId }).queryRow\\\`...\\\`\` with LOAD_BALANCING_STRATEGY=round-robin and ` +
        `READ_REPLICA_URLS=replica_1 only: "router + RouterMetrics" has the Prometheus observer attached, as \`npm start\` runs ` +
        `it (the goals apply to it); "router, no observer" is the same router without it, to separate the routing core from ` +
        `the metrics hooks. "router's pool" is the pg.Pool the router's factory builds (statement_timeout, query_timeout, ` +
        `keepAlive, application_name), called directly.`,
    ],
    tables,
    notes,
  };
}

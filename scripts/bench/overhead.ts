/**
 * Scenario 1, the hot path: reads, writes and token reads against their
 * floor on the bench's two replicas with the router's defaults
 * (hot_path.ts), then the router's own CPU per read without a database
 * (overhead_cpu.ts: against a fake pool, and a CPU profile of it).
 */
import type { BenchContext, Section } from "./common";
import { fmt, fmtInt } from "./common";
import { hotPath } from "./hot_path";
import {
  areaTable,
  isolated,
  profileRouter,
  profileTable,
} from "./overhead_cpu";

/** Scenario entry point. */
export async function overhead(ctx: BenchContext): Promise<Section> {
  const { method, tables, notes } = await hotPath(ctx);
  await isolated(ctx, tables, notes);
  const prof = await profileRouter(ctx);
  tables.push(profileTable(prof), areaTable(prof));
  notes.push(
    `Profile: ${fmtInt(prof.reads)} reads through router+metrics, sampled every 200 µs; only the measured loop (` +
      `${fmt(prof.summary.totalMs, 0)} ms) is counted. Lines point at the definition in the .ts source. Raw profile: \`${prof.file}\`.`,
  );
  return {
    id: "overhead",
    title: "Hot path against the floor: reads, writes, token reads",
    method: [
      ...method,
      "The last tables take the database away: the router's own CPU per read against a fake pool that resolves at once " +
        "(child processes, fresh JIT), and a CPU profile of that loop, to tell where router time goes.",
    ],
    tables,
    notes,
  };
}

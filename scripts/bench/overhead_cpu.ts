/**
 * Scenario 1, no-database part: the router's own CPU per read against a
 * fake pool, measured in child processes (overhead_isolated.ts: fresh JIT,
 * AsyncLocalStorage hooks off or on for the whole process), then a CPU
 * profile of the router+metrics loop (`node --cpu-prof`), summarised by
 * self time.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { BenchContext, Table } from "./common";
import { fmt, fmtInt, median } from "./common";
import type { IsolatedResult } from "./overhead_isolated";
import { summarizeProfile, type ProfileSummary } from "./profile";

const execFileP = promisify(execFile);

/** The no-database child (overhead_isolated.ts) and how to run it: from the repository root, killed after 2 minutes. */
function child(ctx: BenchContext): {
  file: string;
  opts: { cwd: string; maxBuffer: number; timeout: number };
} {
  return {
    file: path.join(ctx.repoRoot, "scripts", "bench", "overhead_isolated.ts"),
    opts: { cwd: ctx.repoRoot, maxBuffer: 16 << 20, timeout: 120_000 },
  };
}

/** Router CPU per read vs the fake pool called directly, without and with a request context; appends a table and notes. */
export async function isolated(
  ctx: BenchContext,
  tables: Table[],
  notes: string[],
): Promise<void> {
  const n = ctx.quick ? 10_000 : 40_000;
  const rounds = 5;
  const runs: IsolatedResult[] = [];
  for (const als of [false, true]) {
    ctx.log(
      `overhead: isolated router cost${als ? " (inside a request context)" : ""}`,
    );
    const { file, opts } = child(ctx);
    const args = [
      "--import",
      "tsx",
      file,
      "--n",
      String(n),
      "--rounds",
      String(rounds),
      ...(als ? ["--als"] : []),
    ];
    const { stdout } = await execFileP(process.execPath, args, opts);
    runs.push(JSON.parse(stdout.trim().split("\n").pop()!) as IsolatedResult);
  }
  const rows: string[][] = [];
  for (const run of runs) {
    const direct = run.variants.find((v) => v.name === "direct")!;
    for (const v of run.variants) {
      const us = median(v.usPerQuery);
      const extra = median(
        v.usPerQuery.map((x, i) => x - direct.usPerQuery[i]!),
      );
      rows.push([
        run.als ? "yes" : "no",
        v.name,
        fmt(us, 2),
        v.name === "direct" ? "" : fmt(extra, 2),
        `${fmt(Math.min(...v.usPerQuery), 2)}–${fmt(Math.max(...v.usPerQuery), 2)}`,
      ]);
    }
    for (const [name, hits] of Object.entries(run.replicaHits)) {
      if (hits !== n * rounds)
        notes.push(
          `Warning: ${name} sent ${hits} of ${n * rounds} reads to the fake replica.`,
        );
    }
  }
  tables.push({
    title: `Pure router CPU per read, fake pool that resolves at once (${fmtInt(n * rounds)} reads per variant: ${rounds} rounds × ${fmtInt(n)}, medians)`,
    headers: [
      "request context (AsyncLocalStorage)",
      "variant",
      "µs / read",
      "router overhead µs",
      "range over rounds µs",
    ],
    rows,
  });
  notes.push(
    '"request context = yes" runs every read inside `runWithRequestContext`, as the HTTP server does; once an ' +
      "AsyncLocalStorage has been entered, Node 20 tracks every promise through async hooks, so each extra async layer costs more.",
  );
}

/** A profiled run: where the profile is, how many reads it covers, and its summary. */
export interface ProfileRun {
  file: string;
  reads: number;
  summary: ProfileSummary;
}

/** Profiles the router+metrics loop in a child (`node --cpu-prof`) and summarises the measured window. */
export async function profileRouter(ctx: BenchContext): Promise<ProfileRun> {
  ctx.log("overhead: CPU profile of the router loop");
  const reads = ctx.quick ? 200_000 : 600_000;
  const dir = await mkdtemp(path.join(os.tmpdir(), "replica-router-prof-"));
  const { file, opts } = child(ctx);
  const { stdout } = await execFileP(
    process.execPath,
    [
      "--import",
      "tsx",
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      "--cpu-prof-interval",
      "200",
      file,
      "--profile",
      String(reads),
    ],
    opts,
  );
  const window = JSON.parse(stdout.trim().split("\n").pop()!) as {
    fromUs: number;
    toUs: number;
  };
  // One profile per thread: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
  const files = (await readdir(dir)).filter((f) => f.endsWith(".cpuprofile"));
  const main = files.find((f) => f.split(".")[4] === "0") ?? files[0];
  if (main === undefined) throw new Error(`no .cpuprofile written to ${dir}`);
  for (const f of files) if (f !== main) await rm(path.join(dir, f));
  const profFile = path.join(dir, main);
  return {
    file: profFile,
    reads,
    summary: summarizeProfile(profFile, ctx.repoRoot, 15, window),
  };
}

/** Top self-time functions of a profile. */
export function profileTable(p: ProfileRun): Table {
  return {
    title: "CPU profile of router+metrics reads (fake pool): top self time",
    headers: ["function", "where", "self ms", "share"],
    rows: p.summary.top.map((h) => [
      h.fn,
      h.location === "" ? (h.area.startsWith("(") ? "–" : h.area) : h.location,
      fmt(h.selfMs, 1),
      `${fmt(100 * h.share, 1)} %`,
    ]),
  };
}

/** Self time of a profile by area of the code. */
export function areaTable(p: ProfileRun): Table {
  return {
    title: "Same profile by area",
    headers: ["area", "self ms", "share"],
    rows: p.summary.byArea.map((a) => [
      a.area,
      fmt(a.selfMs, 1),
      `${fmt(100 * a.share, 1)} %`,
    ]),
  };
}

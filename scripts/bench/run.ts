/**
 * The benchmark suite: `npm run bench [-- --only overhead,failover] [--quick] [--out FILE]`.
 *
 * Starts a fresh local primary + 2 streaming replicas in .data/bench-cluster,
 * migrates and seeds the finance schema, runs the chosen scenarios, prints
 * their markdown tables, writes the report, and destroys the cluster (also
 * on Ctrl-C). A full run (all scenarios, not --quick) writes
 * docs/benchmarks.md; partial or quick runs write .data/bench/benchmarks.md
 * unless --out says otherwise, so iterating never overwrites the published numbers.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  removeLocalCluster,
  startLocalCluster,
  type LocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import { cache } from "./cache";
import type { BenchContext, Scenario, Section } from "./common";
import { renderSection } from "./common";
import { seedFinance, sqlOnce } from "./db";
import { failover } from "./failover";
import { fleet } from "./fleet";
import { offload } from "./offload";
import { overload } from "./overload";
import { overhead } from "./overhead";
import { promotion } from "./promotion";
import { queryPatterns } from "./query_patterns";
import { readYourWrites } from "./read_your_writes";
import { redisBreaker } from "./redis_breaker";
import { sessionSettings } from "./session_settings";
import { slowReplica } from "./slow_replica";
import { gitCommit, machine, renderReport } from "./report";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const clusterDir = path.join(repoRoot, ".data", "bench-cluster");

/** Scenarios in the order they run; query_patterns last, as it adds a million rows. */
const SCENARIOS: ReadonlyArray<readonly [string, Scenario]> = [
  ["overhead", overhead],
  ["failover", failover],
  ["slow_replica", slowReplica],
  ["read_your_writes", readYourWrites],
  ["offload", offload],
  ["cache", cache],
  ["overload", overload],
  ["promotion", promotion],
  ["redis_breaker", redisBreaker],
  ["fleet", fleet],
  ["session_settings", sessionSettings],
  ["query_patterns", queryPatterns],
];

const USAGE = `usage: npm run bench -- [--only ${SCENARIOS.map(([id]) => id).join(",")}] [--quick] [--out FILE]
  --only   comma-separated scenarios (default: all)
  --quick  smaller counts and shorter runs, for iterating
  --out    where to write the report (default: docs/benchmarks.md for a full run, else .data/bench/benchmarks.md)`;

interface Args {
  only: string[];
  quick: boolean;
  out: string | null;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    only: SCENARIOS.map(([id]) => id),
    quick: false,
    out: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (v === undefined || v === "")
        throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === "--quick") args.quick = true;
    else if (a === "--only" || a.startsWith("--only="))
      args.only = value()
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean);
    else if (a === "--out" || a.startsWith("--out=")) args.out = value();
    else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  const known = new Set(SCENARIOS.map(([id]) => id));
  const unknown = args.only.filter((id) => !known.has(id));
  if (unknown.length > 0 || args.only.length === 0)
    throw new Error(
      `unknown scenario(s): ${unknown.join(", ") || "(none given)"}\n${USAGE}`,
    );
  return args;
}

/** Removes whatever a previous (crashed) run left in the cluster folder. */
async function freshClusterDir(): Promise<void> {
  // As root the folder may be a symlink to the cluster's real one: removes both.
  await removeLocalCluster(clusterDir);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(
      `[bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${line}\n`,
    );
  let cluster: LocalCluster | null = null;
  let tearingDown: Promise<void> | null = null;
  const teardown = () =>
    (tearingDown ??= (async () => {
      if (cluster !== null)
        await cluster
          .destroy()
          .catch((err: unknown) =>
            log(`cluster destroy failed: ${String(err)}`),
          );
      else await freshClusterDir();
    })());
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the bench cluster`);
      void teardown().finally(() => process.exit(130));
    });
  }

  const sections: Section[] = [];
  const failures: Array<{ id: string; error: string }> = [];
  let postgres = "unknown";
  try {
    log(
      `starting a fresh primary + 2 replicas in ${path.relative(repoRoot, clusterDir)}`,
    );
    await freshClusterDir();
    cluster = await startLocalCluster({ dir: clusterDir, replicas: 2, log });
    const [v] = await sqlOnce<{ v: string }>(
      cluster.primary.url,
      "SELECT current_setting('server_version') AS v",
    );
    postgres = v?.v ?? postgres;
    log("migrating and seeding the finance schema");
    const seed = await seedFinance(cluster);
    const ctx: BenchContext = {
      cluster,
      quick: args.quick,
      repoRoot,
      seed,
      log,
    };
    for (const [id, scenario] of SCENARIOS) {
      if (!args.only.includes(id)) continue;
      const t0 = performance.now();
      log(`scenario ${id}`);
      try {
        const section = await scenario(ctx);
        sections.push(section);
        process.stdout.write(renderSection(section, sections.length) + "\n");
        log(
          `scenario ${id} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        );
      } catch (err) {
        const error =
          err instanceof Error ? (err.stack ?? err.message) : String(err);
        failures.push({ id, error: error.split("\n").slice(0, 3).join(" ") });
        log(`scenario ${id} FAILED: ${error}`);
      }
    }
  } finally {
    log("destroying the bench cluster");
    await teardown();
  }

  const full = args.only.length === SCENARIOS.length && !args.quick;
  const out = path.resolve(
    repoRoot,
    args.out ?? (full ? "docs/benchmarks.md" : ".data/bench/benchmarks.md"),
  );
  const m = machine();
  const command = `npm run bench${args.quick || !full ? ` -- ${[!full ? `--only ${args.only.join(",")}` : "", args.quick ? "--quick" : ""].filter(Boolean).join(" ")}` : ""}`;
  const report = renderReport(
    {
      ...m,
      node: process.version,
      postgres,
      commit: gitCommit(repoRoot),
      date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      command,
      durationS: (performance.now() - started) / 1000,
    },
    sections,
    failures,
  );
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, report);
  log(
    `report written to ${path.relative(repoRoot, out)} (${((performance.now() - started) / 1000).toFixed(0)} s in all)`,
  );
  if (failures.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

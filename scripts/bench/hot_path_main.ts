/**
 * The hot-path tables alone, on a cluster of their own (primary + 2
 * replicas under .data/, removed at the end), printed as markdown:
 *
 *   npx tsx scripts/bench/hot_path_main.ts [--quick]
 *
 * The same tables as the first part of `npm run bench -- --only overhead`,
 * without the suite's finance seed or the router-CPU tables; this is what
 * hot_path_before.sh runs at an older commit.
 */
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import {
  removeLocalCluster,
  startLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import type { BenchContext } from "./common";
import { renderSection } from "./common";
import { hotPath } from "./hot_path";
import { gitCommit } from "./report";

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
  const dir = path.join(repoRoot, ".data", `hot-path-${process.pid}`);
  const started = performance.now();
  const log = (line: string) =>
    process.stderr.write(
      `[hot path ${((performance.now() - started) / 1000).toFixed(1)}s] ${line}\n`,
    );
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= removeLocalCluster(dir));
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void stop().finally(() => process.exit(130)));
  try {
    log(`starting a primary + 2 replicas in ${dir}`);
    const cluster = await startLocalCluster({ dir, replicas: 2, log });
    const ctx: BenchContext = {
      cluster,
      quick,
      repoRoot,
      // The hot path seeds its own table.
      seed: { orgIds: [], orgOf: new Int32Array(), idOf: new Float64Array() },
      log,
    };
    const part = await hotPath(ctx);
    process.stdout.write(
      `Commit ${gitCommit(repoRoot)}, Node ${process.version}${quick ? ", --quick" : ""}\n\n` +
        renderSection(
          {
            id: "overhead",
            title: "Hot path against the floor",
            ...part,
          },
          1,
        ) +
        "\n",
    );
  } finally {
    await stop();
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});

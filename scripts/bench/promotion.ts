/**
 * Scenario "promotion": a replica promoted under load (`pg_ctl promote`) and
 * then written on directly holds data the primary never has. How long after
 * the promotion does the router still send it reads? On a cluster of its own
 * (a promotion cannot be undone), with default settings and 8 readers, each
 * replica is promoted in turn, each time right after the router's lag sample
 * of it (the lag poll's worst case, so only the role watch can be quick).
 * Formerly asserted by test/integration/promotion.test.ts (issue 20).
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  findPgBinDir,
  startLocalCluster,
  stopLocalCluster,
  type LocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import type { BenchContext, Section } from "./common";
import { sleep } from "./common";
import { sqlOnce, waitForReplicas } from "./db";
import { promotionSection, type Sample, type Trial } from "./promotion_report";

const READERS = 8;
/** How long reads go on after each promotion: past a whole lag-poll interval. */
const OBSERVE_MS = 1_500;

/** Scenario entry point. */
export async function promotion(ctx: BenchContext): Promise<Section> {
  const replicas = ctx.quick ? 1 : 3;
  const dir = path.join(ctx.repoRoot, ".data", "bench-promotion");
  await stopLocalCluster(dir).catch(() => {});
  await rm(dir, { recursive: true, force: true });
  let cluster: LocalCluster | null = null;
  // The runner's Ctrl-C handler stops only the main cluster.
  const onSignal = () => void cluster?.destroy().catch(() => {});
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    ctx.log(`promotion: a cluster of its own with ${replicas} replica(s)`);
    cluster = await startLocalCluster({ dir, replicas });
    return await run(ctx, cluster);
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    await cluster?.destroy();
  }
}

async function run(ctx: BenchContext, cluster: LocalCluster): Promise<Section> {
  const url = cluster.primary.url;
  await sqlOnce(
    url,
    "CREATE TABLE promotion_probe (id int PRIMARY KEY, v text NOT NULL)",
  );
  await sqlOnce(url, "INSERT INTO promotion_probe VALUES (1, 'primary')");
  await waitForReplicas(cluster);
  const abandoned: unknown[] = [];
  const config = loadConfig({
    DATABASE_URL: url,
    READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
  });
  const router = new ReplicaRouter(config.router, {
    logger: {
      ...silentLogger,
      warn: (message, fields) => {
        if (message.includes("no longer in recovery"))
          abandoned.push(fields?.abandonedReads);
      },
    },
  });
  await router.start();
  const startedAt = performance.now();
  const samples: Sample[] = [];
  let stop = false;
  const reader = async () => {
    while (!stop) {
      const db = router.getReadConnection();
      try {
        const row = await db.queryRow<{
          v: string;
        }>`SELECT v FROM promotion_probe WHERE id = 1`;
        samples.push({
          end: performance.now(),
          value: row?.v ?? null,
          node: db.servedBy,
          failed: false,
        });
      } catch {
        samples.push({
          end: performance.now(),
          value: null,
          node: null,
          failed: true,
        });
      }
    }
  };
  const readers = Array.from({ length: READERS }, () => reader());
  const trials: Trial[] = [];
  let checksPerSecond = NaN;
  try {
    await sleep(1_000);
    // Cost while every replica is healthy.
    checksPerSecond =
      router.roleWatch.checksStarted /
      cluster.replicas.length /
      ((performance.now() - startedAt) / 1000);
    // The last replica first: the router keeps the others.
    for (const replica of [...cluster.replicas].reverse()) {
      ctx.log(`promotion: promoting ${replica.name}`);
      trials.push(await promoteOne(router, replica, samples, abandoned));
    }
  } finally {
    stop = true;
    await Promise.all(readers);
    await router.close();
  }
  return promotionSection(
    trials,
    samples,
    checksPerSecond,
    READERS,
    OBSERVE_MS,
  );
}

/** Promotes `replica` right after a lag sample of it, writes on it, and watches for OBSERVE_MS. */
async function promoteOne(
  router: ReplicaRouter,
  replica: LocalCluster["replicas"][number],
  samples: readonly Sample[],
  abandoned: unknown[],
): Promise<Trial> {
  const node = router.clusters[0]!.replicas.find(
    (n) => n.name === replica.name,
  )!;
  let outAt = NaN;
  const off = node.health.onChange((e) => {
    if (e.to === "not_a_replica" && Number.isNaN(outAt))
      outAt = performance.now();
  });
  // When recovery actually ends, seen from a connection of our own.
  const watcher = new pg.Client({ connectionString: replica.url });
  watcher.on("error", () => {});
  await watcher.connect();
  let recoveryEndedAt = NaN;
  let watching = true;
  const watch = (async () => {
    while (watching && Number.isNaN(recoveryEndedAt)) {
      const { rows } = await watcher.query("SELECT pg_is_in_recovery() AS r");
      if (rows[0]?.r === false) recoveryEndedAt = performance.now();
    }
  })();
  const abandonedBefore = abandoned.length;
  try {
    const deadline = performance.now() + 10_000;
    while (
      !samples.some((s) => s.node === replica.name) &&
      performance.now() < deadline
    )
      await sleep(5);
    const sampled = node.lag!.reading.sampledAtMs;
    while (
      node.lag!.reading.sampledAtMs === sampled &&
      performance.now() < deadline
    )
      await sleep(2);
    const promoteStart = performance.now();
    await promote(replica.dataDir);
    const promotedAt = performance.now();
    await sqlOnce(
      replica.url,
      `UPDATE promotion_probe SET v = '${replica.name}' WHERE id = 1`,
    );
    await sleep(OBSERVE_MS);
    return {
      node: replica.name,
      promoteStart,
      promotedAt,
      recoveryEndedAt,
      outAt,
      abandoned:
        abandoned.length > abandonedBefore ? Number(abandoned.at(-1)) : NaN,
    };
  } finally {
    off();
    watching = false;
    await watch.catch(() => undefined);
    await watcher.end().catch(() => undefined);
  }
}

/** `pg_ctl promote -w` (as `postgres` when we are root); resolves once it returns. */
function promote(dataDir: string): Promise<void> {
  const exe = path.join(findPgBinDir(), "pg_ctl");
  const args = ["promote", "-D", dataDir, "-w"];
  const [file, argv] =
    process.getuid?.() === 0
      ? ["runuser", ["-u", "postgres", "--", exe, ...args]]
      : [exe, args];
  // PG* variables of the caller's shell must not steer pg_ctl.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("PG")),
  );
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
      { cwd: "/", env, timeout: 30_000 },
      (err, stdout, stderr) =>
        err
          ? reject(
              new Error(`pg_ctl promote: ${stderr || stdout || String(err)}`),
            )
          : resolve(),
    );
  });
}

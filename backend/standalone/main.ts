/**
 * `npm start`: the standalone service. With no DATABASE_URL it starts (or
 * reuses) a local primary + 2 streaming replicas under .data/cluster (or
 * LOCAL_CLUSTER_DIR; as root, in a folder the postgres user can reach, which
 * that path links to) and stops them again on SIGINT/SIGTERM.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, jsonLogger, loadConfig } from "../database/router/index";
import {
  localClusterLocation,
  startLocalCluster,
  type LocalCluster,
} from "./local_cluster/local_cluster";
import { createApp } from "./app";
import { MIGRATIONS_DIR, runMigrations } from "./migrate";

const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../..",
);
const log = jsonLogger;

async function main(): Promise<void> {
  const env = { ...process.env };
  let cluster: LocalCluster | null = null;
  if (env.DATABASE_URL === undefined || env.DATABASE_URL === "") {
    // LOCAL_CLUSTER_DIR lets a second checkout or a test use its own folder.
    const dir = path.resolve(root, env.LOCAL_CLUSTER_DIR ?? ".data/cluster");
    // As root, a cluster the postgres user could not reach in `dir` lives elsewhere: say where.
    const place = await localClusterLocation(dir);
    const where =
      place.relocatedBecause === null
        ? ""
        : `, data in ${place.dir} (${place.relocatedBecause})`;
    log.info(
      `DATABASE_URL is not set: starting a local primary + 2 replicas${where}`,
      { dir: path.relative(root, dir) },
    );
    cluster = await startLocalCluster({
      dir,
      replicas: 2,
      log: (line) => log.info(line),
    });
    env.DATABASE_URL = cluster.primary.url;
    env.READ_REPLICA_URLS = cluster.replicas.map((r) => r.url).join(",");
  }

  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      await cluster?.stop();
      process.exit(1);
    }
    throw err;
  }

  const { applied } = await runMigrations(
    config.router.clusters[0]!.primaryUrl,
    MIGRATIONS_DIR,
  );
  for (const c of config.router.clusters.slice(1))
    await runMigrations(c.primaryUrl, MIGRATIONS_DIR);
  if (applied.length > 0) log.info("migrations applied", { versions: applied });

  const app = await createApp(config, { logger: log });
  const port = await app.listen(config.port, config.host);
  log.info("listening", {
    url: `http://127.0.0.1:${port}`,
    status: `/v1/system/database/replicas/status`,
  });
  // Its own throwaway cluster: a key to try the API with (every org),
  // printed once on stdout (never in the JSON log); the previous one is revoked.
  if (cluster !== null && config.auth.mode === "keys") {
    const { key } = await app.keys.issueDevelopmentKey();
    process.stdout.write(
      `\nDevelopment API key (every org; this local cluster only):\n  ${key}\n` +
        `  curl -H "Authorization: Bearer ${key}" http://127.0.0.1:${port}/v1/finance/orgs/42/revenues\n\n`,
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("shutting down", { signal });
    // Hard stop if something hangs; the drain below is bounded well inside it.
    setTimeout(() => process.exit(1), 10_000).unref();
    await app.close(6_000);
    if (cluster !== null) await cluster.stop();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err: unknown) => {
  log.error("start-up failed", {
    error: err instanceof Error ? err.message : String(err),
  });
  process.exit(1);
});

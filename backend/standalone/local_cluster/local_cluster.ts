/**
 * A local PostgreSQL primary with streaming replicas, built from the system's
 * own server binaries (no Docker), for the standalone mode and the
 * integration tests. This file is the public API; the pieces live beside it:
 * cluster_roster.ts (cluster.json), node_builder.ts and node_starter.ts (what
 * the Cluster of cluster.ts composes), pg_binaries.ts and pg_ctl.ts (running
 * the server binaries), data_dir.ts, node_query.ts and ports.ts.
 *
 * Layout of a cluster folder: `<dir>/cluster.json` (database, node names and
 * ports; the source of truth for restarts) and one data directory per node,
 * `<dir>/<name>`, each logging to `<dir>/<name>/server.log`. A node is written
 * to cluster.json only once it is fully built, so a data directory that the
 * state file does not list is a leftover of a failed attempt and is rebuilt.
 *
 * PostgreSQL refuses to run as root, so as root every server binary runs as
 * the `postgres` OS user through `runuser`, and data directories belong to it.
 * When that user cannot reach the requested folder (a clone under /root), the
 * cluster lives in a folder it can reach and the requested path becomes a
 * symlink to it (cluster_location.ts, relocation.ts). Every entry point below
 * builds its paths from the real path, so the server binaries get that.
 */
import path from "node:path";
import { Cluster } from "./cluster";
import { readState, validateName } from "./cluster_roster";
import type {
  ClusterNode,
  LocalCluster,
  StartClusterOptions,
} from "./cluster_types";
import { existingClusterDir } from "./cluster_location";
import { findPgBinDir } from "./pg_binaries";
import { pgCtlStatus } from "./pg_ctl";
import { prepareClusterLocation, removeClusterAt } from "./relocation";

export type {
  ClusterNode,
  LocalCluster,
  StartClusterOptions,
} from "./cluster_types";
export { type ClusterPlace, localClusterLocation } from "./cluster_location";
export { findPgBinDir } from "./pg_binaries";
export { freePort } from "./ports";

const starting = new Map<string, Promise<LocalCluster>>();

/**
 * Creates (first time) or restarts (later) the cluster in `dir`; idempotent:
 * calling it while it runs returns the running cluster (same ports).
 * Waits until the primary accepts connections and every replica streams.
 * @throws Error naming the failed step, with the tail of the server log.
 */
export function startLocalCluster(
  opts: StartClusterOptions,
): Promise<LocalCluster> {
  const dir = path.resolve(opts.dir);
  // Concurrent calls in one process share one start instead of racing on the same data dirs.
  const pending = starting.get(dir);
  if (pending) return pending;
  const started = openCluster(dir, opts).finally(() => starting.delete(dir));
  starting.set(dir, started);
  return started;
}

async function openCluster(
  requested: string,
  opts: StartClusterOptions,
): Promise<Cluster> {
  const replicas = opts.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 0)
    throw new Error(`local cluster: replicas must be >= 0, got ${replicas}`);
  if (opts.database !== undefined) validateName("database name", opts.database);
  findPgBinDir(); // fail early with the install hint
  const log = opts.log ?? (() => {});
  const { dir, link } = await prepareClusterLocation(requested, log);
  const recorded = await readState(dir);
  if (
    recorded &&
    opts.database !== undefined &&
    recorded.database !== opts.database
  ) {
    throw new Error(
      `local cluster: ${dir} holds database "${recorded.database}", not "${opts.database}"`,
    );
  }
  const state = recorded ?? {
    version: 1 as const,
    database: opts.database ?? "app",
    nodes: [],
  };
  const cluster = new Cluster(dir, state, log, link);
  await cluster.bringUp(replicas);
  return cluster;
}

/** Stops a cluster previously started in `dir` (reads its state file); no-op if none. */
export async function stopLocalCluster(dir: string): Promise<void> {
  const resolved = await existingClusterDir(path.resolve(dir));
  const state = await readState(resolved);
  if (state) await new Cluster(resolved, state, () => {}).stop();
}

/**
 * The nodes recorded in `dir` and whether each server is running (pg_ctl status);
 * null when `dir` holds no cluster. Starts nothing.
 */
export async function localClusterStatus(
  dir: string,
): Promise<Array<ClusterNode & { running: boolean }> | null> {
  const resolved = await existingClusterDir(path.resolve(dir));
  const state = await readState(resolved);
  if (!state) return null;
  const cluster = new Cluster(resolved, state, () => {});
  return Promise.all(
    [cluster.primary, ...cluster.replicas].map(async (n) => ({
      ...n,
      running: (await pgCtlStatus(n.dataDir)) === "running",
    })),
  );
}

/**
 * An independent (NOT a replica) single PostgreSQL server in `dir`, e.g. to
 * test that a misconfigured "replica" URL is detected. Its node is named
 * "primary"; its stop() stops it (removeLocalCluster(dir) throws it away).
 * @throws Error if `dir` holds a cluster with replicas.
 */
export async function startIndependentServer(opts: {
  dir: string;
  database?: string;
}): Promise<ClusterNode & { stop(): Promise<void> }> {
  const state = await readState(
    await existingClusterDir(path.resolve(opts.dir)),
  );
  if (state && state.nodes.length > 1)
    throw new Error(`local cluster: ${opts.dir} holds a cluster with replicas`);
  const cluster = await startLocalCluster({
    dir: opts.dir,
    database: opts.database,
    replicas: 0,
  });
  return { ...cluster.primary, stop: () => cluster.stop() };
}

/**
 * Stops the cluster at `dir` (best effort, like `stopLocalCluster(dir).catch(() => {})`) and
 * deletes it: the folder, and when `dir` is a symlink to it (as root, a relocated cluster), the
 * link too. `rm -rf dir` alone would leave a relocated cluster's data behind.
 * @throws Error when a folder cannot be deleted.
 */
export async function removeLocalCluster(dir: string): Promise<void> {
  const requested = path.resolve(dir);
  await stopLocalCluster(requested).catch(() => {});
  await removeClusterAt(requested);
}

/**
 * Vitest globalSetup: one primary + 2 streaming replicas shared by every
 * integration test file, reached with `inject("clusterUrls")`.
 *
 * With TEST_DATABASE_URL set (and TEST_READ_REPLICA_URLS, comma-separated),
 * those servers are used as given and nothing is started. Otherwise a cluster
 * is built in `<repo>/.data/test-cluster-<pid>` and destroyed at teardown.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import {
  removeLocalCluster,
  startLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import { verbose } from "../support/verbose";
import {
  missingOnCi,
  onCi,
  skipNotice,
  TOOL_GROUPS,
} from "./helpers/system_tools";

/** What global setup hands to the test files. */
export interface ClusterUrls {
  primaryUrl: string;
  replicaUrls: string[];
  /** The cluster folder when this run built it; null for servers from the environment. */
  clusterDir: string | null;
}

declare module "vitest" {
  export interface ProvidedContext {
    clusterUrls: {
      primaryUrl: string;
      replicaUrls: string[];
      clusterDir: string | null;
    };
  }
}

const DATA_DIR = fileURLToPath(new URL("../../.data", import.meta.url));

/** Starts (or takes from the environment) the shared cluster; returns its teardown. */
export default async function setup(
  project: TestProject,
): Promise<() => Promise<void>> {
  announceMissingTools(project.name);
  const envPrimary = process.env.TEST_DATABASE_URL;
  if (envPrimary) {
    const replicaUrls = (process.env.TEST_READ_REPLICA_URLS ?? "")
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "");
    project.provide("clusterUrls", {
      primaryUrl: envPrimary,
      replicaUrls,
      clusterDir: null,
    });
    return async () => {};
  }

  await removeOrphanedClusters();
  const dir = path.join(DATA_DIR, `test-cluster-${process.pid}`);
  const started = Date.now();
  try {
    const cluster = await startLocalCluster({ dir, replicas: 2 });
    if (verbose)
      console.log(
        `integration cluster up in ${Date.now() - started} ms (${dir})`,
      );
    project.provide("clusterUrls", {
      primaryUrl: cluster.primary.url,
      replicaUrls: cluster.replicas.map((r) => r.url),
      clusterDir: dir,
    });
    return () => cluster.destroy();
  } catch (err) {
    await destroyDir(dir);
    throw err;
  }
}

/**
 * One line per test group of this project that will skip for a missing
 * system package, naming what to install; under `CI=true` the run fails
 * instead (CI installs them).
 * @throws Error naming the missing tool, under CI.
 */
function announceMissingTools(projectName: string): void {
  for (const group of TOOL_GROUPS) {
    if (group.project !== projectName || group.tool.find() !== null) continue;
    if (onCi()) throw new Error(missingOnCi(group.tool));
    console.log(skipNotice(group));
  }
}

/** Stops and deletes the cluster at `dir`, and, as root, the folder elsewhere that it may link to. */
async function destroyDir(dir: string): Promise<void> {
  await removeLocalCluster(dir);
}

/** Clusters of earlier runs that died before their teardown (killed vitest, Ctrl-C twice). */
async function removeOrphanedClusters(): Promise<void> {
  if (!existsSync(DATA_DIR)) return;
  for (const entry of readdirSync(DATA_DIR)) {
    const pid = Number(/^test-cluster-(\d+)$/.exec(entry)?.[1]);
    if (pid && !processAlive(pid)) await destroyDir(path.join(DATA_DIR, entry));
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

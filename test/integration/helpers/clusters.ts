/**
 * Helpers for integration tests that need their own cluster (to stop, kill
 * or pause nodes without disturbing the shared one from global_setup.ts) or
 * a quick one-off SQL statement.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import {
  type LocalCluster,
  removeLocalCluster,
  startLocalCluster,
} from "../../../backend/standalone/local_cluster/local_cluster";

/** The repository root (the folder of package.json). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

/**
 * A private cluster with `replicas` streaming replicas under
 * `<repo>/.data/test-<random>`. The caller destroys it (in afterAll).
 * @throws Error from startLocalCluster; the half-built folder is removed first.
 */
export async function withFreshCluster(replicas = 2): Promise<LocalCluster> {
  const dir = path.join(
    repoRoot,
    ".data",
    `test-${randomBytes(6).toString("hex")}`,
  );
  try {
    return await startLocalCluster({ dir, replicas });
  } catch (err) {
    await removeLocalCluster(dir).catch(() => {});
    throw err;
  }
}

/** Opens a client to `url`, runs one statement, closes; returns the rows. */
// `any` rows: tests read ad-hoc columns of ad-hoc statements.
export async function sql(
  url: string,
  text: string,
  params?: unknown[],
): Promise<any[]> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5_000,
  });
  client.on("error", () => {}); // a node a test stops on purpose must not crash the worker
  try {
    await client.connect();
    return (await client.query(text, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Retries `check` every 50 ms until it resolves, for effects that arrive
 * asynchronously from a real server (replication); rethrows its last error
 * after `timeoutMs` (default 5 s).
 */
export async function eventually<T>(
  check: () => Promise<T>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

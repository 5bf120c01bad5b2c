/** One-off SQL against a cluster node, and polling a node until a check passes. */
import pg from "pg";
import type { ClusterNode } from "./cluster_types";
import { stepError } from "./pg_ctl";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The node's URL with the `postgres` maintenance database instead of the cluster's. */
export const adminUrl = (node: ClusterNode): string =>
  node.url.replace(/\/[^/]*$/, "/postgres");

/** Opens a client to `url` (2 s connect timeout), runs one statement, closes; returns the rows. */
export async function query<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2_000,
  });
  client.on("error", () => {}); // a server stopping under us must not crash the process
  try {
    await client.connect();
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Polls `check` every 100 ms until it returns true.
 * @throws Error from stepError with the last failure after `timeoutMs`.
 */
export async function waitUntil(
  step: string,
  node: ClusterNode,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "condition not met";
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline)
      throw await stepError(
        step,
        `not ready after ${timeoutMs} ms (${last})`,
        node,
      );
    await sleep(100);
  }
}

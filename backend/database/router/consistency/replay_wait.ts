import { TimeoutError, withTimeout } from "../support/timeout";
import { parseLsn } from "../lag/lag_tracker";
import type { DbNode } from "../nodes/db_node";

/**
 * Asks `node` for its replay position until it reaches `lsn`, at most
 * READ_YOUR_WRITES_MAX_WAIT: a bounded handful of tiny queries, each shared
 * by every read waiting on that replica at the time (see {@link refreshReplayed}).
 */
export async function waitForReplay(
  node: DbNode,
  lsn: bigint,
  maxWaitMs: number,
): Promise<boolean> {
  const deadline = performance.now() + maxWaitMs;
  let pauseMs = 1;
  for (;;) {
    // Bounded by the time left (at least 5 ms): a replica that froze
    // must not hold a token read until the statement timeout.
    const outcome = await refreshReplayed(
      node,
      Math.max(5, deadline - performance.now()),
    );
    if (outcome === "error") return false;
    if (outcome === "answered" && node.hasReplayed(lsn)) return true;
    // A question shared with another waiter may time out on that waiter's
    // shorter deadline: this one asks again while it has time.
    const left = deadline - performance.now();
    if (left <= 0) return false;
    // Local replay usually takes well under a millisecond: ask again soon,
    // then back off (1, 2, 4, 8 ms...), so a slow replica costs a handful of queries.
    await new Promise((r) => setTimeout(r, Math.min(pauseMs, left)));
    pauseMs *= 2;
  }
}

/** The replicas sharing the highest known replay position. */
export function furthestAlong<N extends DbNode>(
  nodes: readonly N[],
): readonly N[] {
  let best = -1n;
  for (const n of nodes) if (n.replayedLsn > best) best = n.replayedLsn;
  return nodes.filter((n) => n.replayedLsn === best);
}

/** How a replay question ended. */
export type ReplayAnswer = "answered" | "timeout" | "error";

/**
 * Asks `node` once for its replay position and records it (replay only
 * moves forward, so the value is a floor of what later reads there see).
 * Never throws: a replica that does not answer within `timeoutMs`, or
 * fails, keeps its last known position. Concurrent callers share one
 * question per replica (and the first caller's timeout).
 */
export function refreshReplayed(
  node: DbNode,
  timeoutMs: number,
): Promise<ReplayAnswer> {
  let pending = refreshing.get(node);
  if (pending === undefined) {
    pending = askReplayed(node, timeoutMs).finally(() =>
      refreshing.delete(node),
    );
    refreshing.set(node, pending);
  }
  return pending;
}

const refreshing = new WeakMap<DbNode, Promise<ReplayAnswer>>();

async function askReplayed(
  node: DbNode,
  timeoutMs: number,
): Promise<ReplayAnswer> {
  try {
    const rows = await withTimeout(
      node.query("SELECT pg_last_wal_replay_lsn()::text AS lsn", []),
      timeoutMs,
      node.name,
    );
    const text = rows[0]?.lsn;
    if (typeof text === "string") node.noteReplayed(parseLsn(text));
    return "answered";
  } catch (err) {
    // Its last known position stands (a fill is then not stored).
    return err instanceof TimeoutError ? "timeout" : "error";
  }
}

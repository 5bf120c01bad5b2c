import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import { withTimeout } from "../support/timeout";
import type { Logger } from "../support/logger";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../nodes/pg_errors";

/** Per-attempt deadline settings (REPLICA_ATTEMPT_DEADLINE_MIN / _MAX). */
export interface DeadlineOptions {
  /** Floor of a replica's deadline (ms). */
  readonly minMs: number;
  /** Ceiling of a replica's deadline (ms); never above the statement timeout. */
  readonly maxMs: number;
}

/** Shortest time a stall probe (connect + `SELECT 1`) is given (ms). */
const PROBE_MIN_TIMEOUT_MS = 250;

/** How many times a node's p99 read latency its deadline is. */
const P99_MULTIPLIER = 4;

/**
 * A replica's per-attempt deadline: four times its recent p99 read latency,
 * kept between the floor and the ceiling. A read outstanding longer than
 * this, on a node that has answered nothing since the read started, makes
 * the node a stall suspect.
 */
export function attemptDeadlineMs(node: DbNode, o: DeadlineOptions): number {
  const p99 = node.latency.percentile(0.99);
  const ms = p99 === null ? o.minMs : P99_MULTIPLIER * p99;
  return Math.min(o.maxMs, Math.max(o.minMs, ms));
}

/**
 * Finds replicas that stopped answering without failing (a frozen process,
 * a silently dropped network, a wedged backend): nothing errors, so neither
 * breakers nor passive detection see them.
 *
 * Every tick it looks at each replica's oldest outstanding read. Older than
 * the node's deadline while the node has answered nothing for a deadline:
 * the node is a **suspect** and gets no new reads (this is cheap to be wrong
 * about). A probe on a fresh connection (off the request path) then decides:
 * an answer clears the suspicion and leaves slow queries running; no answer
 * within the deadline **confirms** the stall and abandons every outstanding
 * read on the node, so their callers retry elsewhere at once; their
 * connections are destroyed and their slots freed, also those of hedges'
 * losers still waiting there (a loser on a live node is let finish). Probes
 * repeat every deadline until one answers.
 */
export class StallWatch {
  private readonly probing = new Set<DbNode>();
  private readonly lastProbeMs = new Map<DbNode, number>();

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: DeadlineOptions & {
      clock: Clock;
      logger: Logger;
    },
  ) {}

  /**
   * One pass over every replica; call it every {@link DeadlineOptions.minMs}/2.
   * The pass runs after the event loop's pending I/O (setImmediate): timers
   * fire before I/O callbacks, so on a busy process a pass run straight from
   * the timer would miss answers that already arrived and suspect a node
   * for our own lateness.
   */
  tick(): void {
    setImmediate(() => this.evaluate());
  }

  private evaluate(): void {
    const now = this.options.clock.now();
    for (const cluster of this.clusters()) {
      for (const node of cluster.replicas) {
        if (node.disabled) continue;
        const deadline = attemptDeadlineMs(node, this.options);
        if (node.stall === null) {
          const oldest = node.oldestAttemptStartMs();
          // Suspect: work outstanding past the deadline, and no answer at all
          // for a whole deadline. (Comparing answers with the oldest read's
          // start would miss a node that answered once just as it froze.)
          if (
            oldest === undefined ||
            now - oldest <= deadline ||
            now - node.lastAnsweredAtMs <= deadline
          )
            continue;
          node.stall = {
            sinceMs: now,
            reason: `stalled: ${node.attemptCount} read(s) outstanding, no answer for ${Math.round(now - node.lastAnsweredAtMs)} ms (deadline ${Math.round(deadline)} ms)`,
            confirmed: false,
          };
          cluster.refresh();
          this.options.logger.warn(
            "replica suspected stalled; no new reads until it answers",
            {
              node: node.name,
              outstanding: node.attemptCount,
              deadlineMs: Math.round(deadline),
            },
          );
        }
        if (
          !this.probing.has(node) &&
          now - (this.lastProbeMs.get(node) ?? -Infinity) >= deadline
        )
          // A probe opens a connection of its own: give the handshake room
          // (TLS, SCRAM, a busy server) beyond a tight deadline.
          void this.probe(
            cluster,
            node,
            Math.max(deadline, PROBE_MIN_TIMEOUT_MS),
          );
      }
    }
  }

  /** `SELECT 1` on a connection of its own, bounded by `deadlineMs`. */
  private async probe(
    cluster: NodeCluster,
    node: DbNode,
    deadlineMs: number,
  ): Promise<void> {
    this.probing.add(node);
    this.lastProbeMs.set(node, this.options.clock.now());
    try {
      await probeNode(node, deadlineMs);
      node.answered();
      if (node.stall !== null) {
        const { sinceMs } = node.stall;
        node.stall = null;
        cluster.refresh();
        this.options.logger.info("replica answers again; serving reads", {
          node: node.name,
          stalledMs: Math.round(this.options.clock.now() - sinceMs),
        });
      }
    } catch (err) {
      if (node.stall !== null) {
        const first = !node.stall.confirmed;
        node.stall.confirmed = true;
        // Every failed probe abandons what is outstanding there by now
        // (reads that were already waiting for a slot when it stalled).
        const abandoned = node.outstandingAttempts();
        for (const a of abandoned) a.abort("stalled");
        if (first)
          this.options.logger.warn(
            "replica stalled: its outstanding reads were moved to other nodes",
            {
              node: node.name,
              abandoned: abandoned.length,
              error: describePgError(err),
            },
          );
      }
    } finally {
      this.probing.delete(node);
    }
  }
}

/**
 * Checks out a connection and runs `SELECT 1`, each step bounded by
 * `timeoutMs`. A connection whose probe timed out is destroyed (its socket
 * may be dead); one that arrives after the timeout is released unused.
 */
async function probeNode(node: DbNode, timeoutMs: number): Promise<void> {
  if (node.probeAlone !== undefined)
    return withTimeout(node.probeAlone(timeoutMs), timeoutMs, node.name);
  const connecting = node.pool.connect();
  let client;
  try {
    client = await withTimeout(connecting, timeoutMs, node.name);
  } catch (err) {
    connecting.then(
      (c) => c.release(),
      () => undefined,
    );
    throw err;
  }
  const onError = () => undefined; // a dying connection reports through the query
  client.on?.("error", onError);
  try {
    await withTimeout(client.query("SELECT 1"), timeoutMs, node.name);
    client.off?.("error", onError);
    client.release();
  } catch (err) {
    client.release(err instanceof Error ? err : new Error(String(err)));
    throw err;
  }
}

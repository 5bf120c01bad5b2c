import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { LoopDelay } from "../support/event_loop_delay";
import { withTimeout } from "../support/timeout";
import type { Logger } from "../support/logger";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";

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
 * A silent replica is an outlier only when it has kept a read waiting this
 * many times longer than some serving peer is slow now.
 */
const PEER_FACTOR = 4;

/**
 * How many of a cluster's `n` replicas may be out for slowness at once, as
 * Envoy's `max_ejection_percent` bounds outlier ejection: all but one (one
 * of one), so a wrong verdict never moves every replica's reads onto the
 * primary, while a zone of two frozen replicas out of three still goes.
 */
function maxOutForSlowness(n: number): number {
  return Math.max(1, n - 1);
}

/** Why a silent replica was not suspected. */
type Withheld = "peers_as_slow" | "max_out";

/**
 * How long `node` has kept a read waiting without answering anything (ms):
 * the age of its oldest outstanding read that started after `since`, or
 * the time since its last answer if that is shorter; 0 with no such read.
 * (`since`: when a probe last answered; the reads outstanding then are slow
 * queries on a live node, not silence.)
 */
function silentMs(node: DbNode, now: number, since: number): number {
  const oldest = node.oldestAttemptStartedAfter(since);
  if (oldest === undefined) return 0;
  return Math.min(now - oldest, now - node.lastAnsweredAtMs);
}

/**
 * Does `peer` show that answers can arrive now while another replica has
 * been silent for `silent` ms? Only if its latest answer (to a read, a
 * probe or a role check, every REPLICA_ROLE_CHECK_INTERVAL) came within the
 * last `silent / PEER_FACTOR` ms and took less than that: it answers, and
 * fast, right now. Replicas slowed alike answer slowly alike (or not yet),
 * however their answers happen to bunch; a peer with one long report still
 * answers its quick reads; an idle healthy peer answers its role checks.
 */
function testifies(peer: DbNode, silent: number, now: number): boolean {
  const limit = silent / PEER_FACTOR;
  return now - peer.lastEvidenceAtMs < limit && peer.lastEvidenceTookMs < limit;
}

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
 * the node is silent. Silence is judged relative to the rest:
 * - this process's own event-loop delay (its recent maximum) stretches
 *   every deadline: a read's clock starts when it gets its slot, and a busy
 *   loop, a GC pause or a saturated CPU here may send it that much later.
 *   (Answers that did arrive are never missed for our lateness: a pass runs
 *   after the loop's pending I/O, see {@link tick}.)
 * - with serving peers, a silent replica is suspected only if at least one
 *   peer shows that answers can arrive now ({@link testifies}: it answered,
 *   and fast, just now): when every replica slows down together it is
 *   load, not a stall, and nobody is taken out. A replica without serving
 *   peers is judged by its own history (its deadline);
 * - at most all but one of a cluster's replicas (one of one) are out for
 *   slowness at once ({@link maxOutForSlowness});
 * - a replica silent for longer than the deadline ceiling
 *   (REPLICA_ATTEMPT_DEADLINE_MAX, plus the loop delay) is down, not slow:
 *   it is suspected whatever its peers do and whatever the bound, so a
 *   frozen zone, or every replica frozen, still moves reads elsewhere.
 *
 * A silent replica that passes is a **suspect**: it gets no new reads (this
 * is cheap to be wrong about). A probe on a fresh connection (off the
 * request path) then decides: an answer clears the suspicion and leaves slow queries running; no answer
 * within the deadline **confirms** the stall and abandons every outstanding
 * read on the node, so their callers retry elsewhere at once; their
 * connections are destroyed and their slots freed, also those of hedges'
 * losers still waiting there (a loser on a live node is let finish). Probes
 * repeat every deadline until one answers.
 */
export class StallWatch {
  private readonly probing = new Set<DbNode>();
  // Weak: a replica removed from the cluster is forgotten with it.
  private readonly lastProbeMs = new WeakMap<DbNode, number>();
  /** Silent replicas not suspected, and why: one log line and one count per episode. */
  private readonly withheld = new WeakMap<DbNode, Withheld>();
  /** When a probe last answered, per node: reads outstanding then do not make it silent again. */
  private readonly vouchedAtMs = new WeakMap<DbNode, number>();

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: DeadlineOptions & {
      clock: Clock;
      logger: Logger;
      /** This process's event-loop delay. */
      loop: LoopDelay;
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
    // Our own lateness is not the replicas': a loop that ran late may have
    // sent their reads late. (At most one deadline ceiling more, so a frozen
    // replica is still caught within two of them.)
    const lateMs = Math.min(
      this.options.loop.recentMaxMs(),
      this.options.maxMs,
    );
    for (const cluster of this.clusters()) {
      for (const node of cluster.replicas) {
        if (node.disabled) continue;
        const deadline = attemptDeadlineMs(node, this.options);
        if (node.stall === null) {
          // Silent: work outstanding past the deadline, and no answer at all
          // for a whole deadline. (Comparing answers with the oldest read's
          // start would miss a node that answered once just as it froze.)
          const silent = silentMs(
            node,
            now,
            this.vouchedAtMs.get(node) ?? -Infinity,
          );
          if (silent <= deadline + lateMs) {
            this.withheld.delete(node);
            continue;
          }
          const why = this.withhold(cluster, node, silent, now, lateMs);
          if (why !== null) {
            this.noteWithheld(node, why, silent);
            continue;
          }
          this.withheld.delete(node);
          node.suspectStall(
            now,
            `stalled: ${node.attemptCount} read(s) outstanding, no answer for ${Math.round(now - node.lastAnsweredAtMs)} ms (deadline ${Math.round(deadline)} ms)`,
          );
          node.countStall("suspected");
          cluster.refresh();
          this.options.logger.warn(
            "replica suspected stalled; no new reads until it answers",
            {
              node: node.name,
              outstanding: node.attemptCount,
              deadlineMs: Math.round(deadline),
              loopDelayMs: Math.round(lateMs),
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

  /**
   * Why silent `node` is not to be suspected, or null to suspect it: its
   * serving peers are as slow, or enough replicas are out already.
   */
  private withhold(
    cluster: NodeCluster,
    node: DbNode,
    silent: number,
    now: number,
    lateMs: number,
  ): Withheld | null {
    let peers = 0;
    let outlier = false;
    let out = 0;
    for (const p of cluster.replicas) {
      if (p.stall !== null) out++;
      if (p === node || !p.acceptsReads() || p.breaker?.stateName === "open")
        continue;
      peers++;
      if (testifies(p, silent, now)) outlier = true;
    }
    // Silent for the longest deadline there is: down, not slow. Neither its
    // peers nor the bound on slowness keep it in (a zone, or every replica,
    // frozen at once; the primary then serves).
    if (silent > this.options.maxMs + lateMs) return null;
    if (peers > 0 && !outlier) return "peers_as_slow";
    if (out >= maxOutForSlowness(cluster.replicas.length)) return "max_out";
    return null;
  }

  private noteWithheld(node: DbNode, why: Withheld, silent: number): void {
    const before = this.withheld.get(node);
    if (before === why) return;
    this.withheld.set(node, why);
    if (before === undefined) node.countStall("withheld");
    this.options.logger.info(
      why === "peers_as_slow"
        ? "replica silent past its deadline, but its peers are as slow: load, not a stall"
        : "replica silent past its deadline, but as many replicas as may be are out already",
      {
        node: node.name,
        silentMs: Math.round(silent),
        outstanding: node.attemptCount,
      },
    );
  }

  /** `SELECT 1` on a connection of its own, bounded by `deadlineMs`. */
  private async probe(
    cluster: NodeCluster,
    node: DbNode,
    deadlineMs: number,
  ): Promise<void> {
    this.probing.add(node);
    const sentAtMs = this.options.clock.now();
    this.lastProbeMs.set(node, sentAtMs);
    try {
      await probeNode(node, deadlineMs);
      const now = this.options.clock.now();
      node.answered(now - sentAtMs);
      this.vouchedAtMs.set(node, now);
      if (node.stall !== null) {
        const { sinceMs } = node.stall;
        node.clearStall();
        cluster.refresh();
        this.options.logger.info("replica answers again; serving reads", {
          node: node.name,
          stalledMs: Math.round(this.options.clock.now() - sinceMs),
        });
      }
    } catch (err) {
      if (node.stall !== null) {
        const first = !node.stall.confirmed;
        node.confirmStall();
        if (first) node.countStall("confirmed");
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

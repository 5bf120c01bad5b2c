import pg from "pg";
import { CircuitBreaker } from "../health/circuit_breaker";
import { HealthTracker } from "../health/health_tracker";
import { LagTracker } from "../lag/lag_tracker";
import { LatencyWindow } from "./latency_window";
import { NodeCounters } from "./node_counters";
import type { NodeOptions, NodeState, PoolStats, Stall } from "./node_types";
import { OutstandingAttempts } from "./outstanding_attempts";
import type { ReplicaNode } from "./replica_node";
import { NodeAdmission } from "../limits/node_admission";
import type { PgPool } from "./pg_pool";
import type { ReadAttempt } from "../reads/read_attempt";
import type { ReplayGuardMiss } from "./guarded_read";
import { runOnSlot } from "./slot_statement";
import type { SelectableNode } from "../selection/replica_selector";

/** How long no read-your-writes check goes to a replica whose session or role could not vouch for one (ms). */
const UNCHECKABLE_MS = 60_000;

/** The longest a replica found behind a token is passed over by token reads' checks (ms). */
export const MAX_BEHIND_MS = 1_000;

/**
 * One PostgreSQL server: its pool, its health, and for a replica its circuit
 * breaker and lag; its counters ({@link NodeCounters}).
 */
export class DbNode extends NodeCounters implements SelectableNode {
  private running = 0;
  private removed = false;
  /** Availability zone or region, when configured (READ_REPLICA_ZONES...); set by the builder. */
  zone: string | null = null;
  /**
   * Highest replay LSN this replica is known to have reached (from lag
   * samples and read-your-writes checks). Replay only moves forward, so a
   * token at or below it needs no further question to the replica.
   */
  replayedLsn = 0n;
  /**
   * Clock time (ms) a read-your-writes check last found this replica behind
   * its token ({@link behindLsn}); 0 = never.
   */
  guardMissAtMs = 0;
  /** The highest token a check found this replica behind. */
  behindLsn = 0n;
  /** Read-your-writes checks that found this replica behind, since start. */
  guardMisses = 0;
  private missesInARow = 0;
  private behindForMs = 0;
  private uncheckableUntilMs = 0;
  /** Replica reads outstanding now (see {@link ReadAttempt}). */
  private readonly attempts = new OutstandingAttempts();
  /** Clock time this node last answered a read or a stall probe (ms); 0 = never. */
  lastAnsweredAtMs = 0;
  /**
   * The node's latest answer to anything (a read, a stall probe or a role
   * check): when it came (clock ms, 0 = never) and how long it took. The
   * stall watch takes "answered quickly just now" as a peer's evidence that
   * answers can arrive; a role check never counts as an answer to the
   * node's own reads (see {@link lastAnsweredAtMs}), so a node whose reads
   * hang while its role checks answer is still silent.
   */
  lastEvidenceAtMs = 0;
  lastEvidenceTookMs = 0;
  private stalled: Stall | null = null;
  /** Recent successful read latencies on this node (ms). */
  readonly latency = new LatencyWindow();
  /**
   * True when {@link pool} is a real `pg.Pool`, whose clients run custom
   * submittables (a read-your-writes read's replay check and read go in one
   * flight); unit tests' fake pools take only text queries.
   */
  readonly pipelines: boolean;
  /** Bounds the request-path statements running and waiting on this node. */
  readonly admission: NodeAdmission;
  readonly health: HealthTracker;
  /** Replicas only ({@link ReplicaNode}): the primary must always be tried. */
  readonly breaker: CircuitBreaker<ReplicaNode> | null;
  /** Replicas only. */
  readonly lag: LagTracker | null;

  constructor(
    readonly name: string,
    readonly cluster: string,
    readonly role: "primary" | "replica",
    /** `host:port/db`, never the credentials. */
    readonly address: string,
    readonly pool: PgPool,
    readonly weight: number,
    private readonly options: NodeOptions,
    /**
     * A liveness probe on a connection of its own (see `probeConnection`);
     * absent in tests with fake pools, where the pool is probed instead.
     */
    readonly probeAlone?: (timeoutMs: number) => Promise<void>,
  ) {
    super();
    const clock = options.clock;
    this.pipelines = pool instanceof pg.Pool;
    this.admission = new NodeAdmission(name, {
      slots: options.maxConnections,
      queueMax: options.queueMax,
      queueTimeoutMs: options.queueTimeoutMs,
    });
    this.health = new HealthTracker({
      node: name,
      role,
      failureThreshold: options.failureThreshold,
      clock,
    });
    if (role === "replica") {
      this.breaker = new CircuitBreaker<ReplicaNode>({
        node: name,
        // A node with a breaker is a replica (ReplicaNode).
        owner: this as unknown as ReplicaNode,
        failureThreshold: options.failureThreshold,
        openDurationMs: options.breakerOpenDurationMs,
        successThreshold: options.breakerSuccessThreshold,
        clock,
      });
      this.lag = new LagTracker({
        node: name,
        thresholds: options.lagThresholds,
        clock,
      });
    } else {
      this.breaker = null;
      this.lag = null;
    }
  }

  /** Last measured replay lag in bytes (replicas), null when unknown. */
  get lagBytes(): number | null {
    return this.lag === null ? 0 : this.lag.reading.lagBytes;
  }

  /** True when this replica is known to have replayed `lsn`. */
  hasReplayed(lsn: bigint): boolean {
    return this.replayedLsn >= lsn;
  }

  /** Records a replay position seen on this replica (keeps the highest). */
  noteReplayed(lsn: bigint): void {
    if (lsn > this.replayedLsn) this.replayedLsn = lsn;
  }

  /**
   * A read-your-writes check just found this replica behind `lsn`: for a
   * while, token reads newer than what it is known to have replayed wait
   * for its replay instead of checking there. The while doubles with each
   * miss in a row (2, 4, 8 ms... at most 1 s) and starts again after a
   * check that passes once the replica caught up with that token (see
   * {@link noteCaughtUp}): a replica racing the reader (replay a fraction
   * of a millisecond behind the commit) is checked again almost at once,
   * one that lags costs about ten discarded reads in its first second and
   * then one a second.
   */
  noteBehind(lsn: bigint): void {
    this.guardMisses++;
    this.missesInARow++;
    this.guardMissAtMs = this.options.clock.now();
    this.behindForMs = Math.min(MAX_BEHIND_MS, 2 ** this.missesInARow);
    if (lsn > this.behindLsn) this.behindLsn = lsn;
  }

  /**
   * A read-your-writes check did not pass here: `behind` the token (see
   * {@link noteBehind}); or the session is not READ COMMITTED, or the
   * server is out of recovery: then no check is sent here for a minute
   * (token reads wait for replay with separate questions instead).
   */
  noteMiss(miss: ReplayGuardMiss, lsn: bigint): void {
    if (miss.reason === "behind") this.noteBehind(lsn);
    else if (miss.reason !== "check_failed")
      this.uncheckableUntilMs = this.options.clock.now() + UNCHECKABLE_MS;
  }

  /** May a token read carry its check here (see {@link noteMiss})? */
  checkable(): boolean {
    return (
      this.pipelines &&
      this.options.clock.now() >= this.uncheckableUntilMs &&
      !this.stillBehind()
    );
  }

  /**
   * A read-your-writes check passed here: a replica known to have caught
   * up with the token it was last found behind starts its window again.
   */
  noteCaughtUp(): void {
    if (this.replayedLsn >= this.behindLsn) this.missesInARow = 0;
  }

  /**
   * Is this replica still taken to be behind: a check found it behind a
   * token it is not known to have replayed since, within the while set by
   * {@link noteBehind}?
   */
  stillBehind(): boolean {
    return (
      this.replayedLsn < this.behindLsn &&
      this.options.clock.now() - this.guardMissAtMs < this.behindForMs
    );
  }

  /** May a read start here now (not removed, stalled, or anything but healthy)? */
  acceptsReads(): boolean {
    return (
      !this.disabled && this.stall === null && this.health.verdict === "healthy"
    );
  }

  /** Statements running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Set when removed or being removed: serves nothing. */
  get disabled(): boolean {
    return this.removed;
  }

  /** Takes the node out for good (it is being removed). */
  disable(): void {
    this.removed = true;
  }

  /**
   * Set while the node has outstanding reads and has answered nothing for
   * longer than its deadline: it gets no new reads until a probe answers.
   * `confirmed` once a probe timed out too (its reads were then abandoned).
   */
  get stall(): Readonly<Stall> | null {
    return this.stalled;
  }

  /** The stall watch's verdicts on this node (health/stall_watch.ts). */
  suspectStall(sinceMs: number, reason: string): void {
    this.stalled = { sinceMs, reason, confirmed: false };
  }
  confirmStall(): void {
    if (this.stalled !== null) this.stalled.confirmed = true;
  }
  clearStall(): void {
    this.stalled = null;
  }

  /** A request-path statement outside a read attempt starts or ends here (a write on the primary). */
  statementStarted(): void {
    this.running++;
  }
  statementEnded(): void {
    this.running--;
  }

  /** Registers an outstanding read attempt (at the end of the list). */
  beginAttempt(a: ReadAttempt): void {
    if (this.attempts.add(a)) this.running++;
  }

  /** Unregisters a read attempt that answered, failed or was abandoned. Idempotent. */
  endAttempt(a: ReadAttempt): void {
    if (this.attempts.remove(a)) this.running--;
  }

  /** Replica reads outstanding on this node now. */
  get attemptCount(): number {
    return this.attempts.count;
  }

  /** The outstanding read attempts, oldest first (a copy). */
  outstandingAttempts(): ReadAttempt[] {
    return this.attempts.list();
  }

  /** Notes that the node answered (successfully or with an SQL error) a statement sent `tookMs` ago. */
  answered(tookMs = 0): void {
    const now = this.options.clock.now();
    this.lastAnsweredAtMs = now;
    this.lastEvidenceAtMs = now;
    this.lastEvidenceTookMs = tookMs;
  }

  /** Notes that a role check sent `tookMs` ago got an answer (see {@link lastEvidenceAtMs}). */
  reached(tookMs: number): void {
    this.lastEvidenceAtMs = this.options.clock.now();
    this.lastEvidenceTookMs = tookMs;
  }

  /** Start time of the oldest outstanding read attempt that started after `ms`, undefined when none. */
  oldestAttemptStartedAfter(ms: number): number | undefined {
    return this.attempts.oldestStartedAfter(ms);
  }

  /** Start time of the oldest outstanding read attempt, undefined when none. */
  oldestAttemptStartMs(): number | undefined {
    return this.attempts.oldestStartMs();
  }

  /**
   * Runs one request-path statement through admission control: waits for a
   * slot (bounded), runs, gives the slot back.
   * @throws {OverloadedError} when the node is saturated.
   */
  runAdmitted(
    sql: string,
    params: unknown[],
  ): Promise<Record<string, unknown>[]> {
    let wait: Promise<void> | undefined;
    try {
      wait = this.admission.acquire();
    } catch (error) {
      return Promise.reject(error);
    }
    if (wait !== undefined) return wait.then(() => this.onSlot(sql, params));
    return this.onSlot(sql, params);
  }

  /** Runs a statement on the slot just taken; the slot goes back as it settles. */
  private onSlot(
    sql: string,
    params: unknown[],
  ): Promise<Record<string, unknown>[]> {
    this.running++;
    return runOnSlot(this.pool, sql, params, this);
  }

  /** @internal a statement on a slot settled: the slot goes back. */
  slotDone(): void {
    this.running--;
    this.admission.release();
  }

  /** Runs one statement on this node's pool and returns its rows (no admission: probes, samples). */
  async query(
    sql: string,
    params: unknown[],
  ): Promise<Record<string, unknown>[]> {
    this.running++;
    try {
      return (await this.pool.query(sql, params)).rows;
    } finally {
      this.running--;
    }
  }

  /** The node's state, most serious reason first. */
  state(bound: { maxLagSeconds?: number; maxLagBytes?: number }): NodeState {
    if (this.removed) return "disabled";
    const verdict = this.health.verdict;
    if (verdict === "not_a_replica") return "not_a_replica";
    if (this.breaker !== null && this.breaker.stateName === "open")
      return "circuit_open";
    if (verdict !== "healthy" || this.stall !== null) return "unhealthy";
    if (this.lag !== null && !this.lag.withinBound(bound)) return "lagging";
    return "healthy";
  }

  /** Current pool numbers. */
  poolStats(): PoolStats {
    const p = this.pool;
    return {
      total: p.totalCount,
      idle: p.idleCount,
      // Callers waiting: in admission control, and (probes only) in pg-pool.
      waiting: p.waitingCount + this.admission.queued,
      max: this.options.maxConnections,
    };
  }
}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { LatencyWindow } from "../nodes/latency_window";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ReplicaPermit } from "../nodes/replica_node";
import type { Consistency } from "../consistency/consistency";
import type { Hedgeable } from "./hedge_schedule";
import {
  ReadAttempt,
  type AbortReason,
  type AttemptOwner,
} from "./read_attempt";

type Row = Record<string, unknown>;

/** A replica attempt that did not answer: its node, its breaker permit (settled by whoever sorts the failure), and why. */
export interface AttemptFailure {
  readonly node: DbNode;
  readonly permit: ReplicaPermit;
  /** The error the node raised; null when the attempt was abandoned. */
  readonly error: unknown;
  /** Set when abandoned: by the hedge race (`lost`) or the stall watch (`stalled`). */
  readonly aborted: AbortReason | null;
}

/** What a hedged read produced. */
export type HedgedResult =
  | {
      readonly rows: Row[];
      /** The node that answered. */
      readonly node: DbNode;
      /** Its breaker permit, for the caller to settle with the success. */
      readonly permit: ReplicaPermit;
      /** Seconds from its attempt's start to its answer. */
      readonly seconds: number;
      readonly failures: readonly AttemptFailure[];
      /** The hedge target, when a hedge was sent. */
      readonly hedgedTo: DbNode | null;
    }
  | {
      readonly rows: null;
      readonly failures: readonly AttemptFailure[];
      readonly hedgedTo: DbNode | null;
    };

/** What a read is, for choosing its hedge target. */
export interface ReadSpec {
  readonly cluster: NodeCluster;
  readonly consistency: Consistency;
  readonly endpoint: string;
  /** Nodes this read already failed on. */
  readonly tried: readonly DbNode[] | undefined;
  /**
   * A token's position the first node is not known to have replayed: its
   * attempt checks it in the same round trip (0n or absent: none). A hedge
   * goes only to a node known to have replayed it.
   */
  readonly guard?: bigint;
}

/**
 * What the caller makes of a hedged read's result, called synchronously as
 * the read settles; its value (or the Promise it returns, or what it
 * throws) settles the read's promise. The common path then needs no
 * Promise of its own after the read's.
 */
export interface HedgedContinuation<T> {
  hedgedSettled(result: HedgedResult): T | PromiseLike<T>;
}

/** What a {@link PendingRead} needs from the reader that made it. */
export interface PendingReadHost {
  /** Wall clock of the stall watch (attempt start times). */
  readonly clock: Clock;
  /** Monotonic ms (latencies). */
  now(): number;
  /** A second node for `read` (its breaker permit), with its hedge paid for; or undefined. */
  hedgeTargetFor(read: PendingRead, first: DbNode): ReplicaPermit | undefined;
  /** The read no longer waits for a hedge. */
  unschedule(read: PendingRead): void;
  /** A hedge answered first. */
  hedgeWon(): void;
}

const NO_FAILURES: readonly AttemptFailure[] = Object.freeze([]);

/**
 * One read in flight: one attempt, and a second on another node if it falls
 * due for a hedge; the first answer wins. Latencies of both attempts go to
 * their node's window and the cluster's, the loser's too when it answers
 * later (so hedging does not hide the tail it cuts).
 */
export class PendingRead implements AttemptOwner, Hedgeable {
  done = false;
  /** Settles with what `then` makes of the result (the result itself without one). */
  readonly promise: Promise<unknown>;
  /** @internal */
  prevDue: Hedgeable | null = null;
  /** @internal */
  nextDue: Hedgeable | null = null;
  /** @internal */
  scheduled = false;
  private resolve!: (value: unknown) => void;
  private reject!: (error: unknown) => void;
  private first: ReadAttempt | null = null;
  private second: ReadAttempt | null = null;
  /** The breaker permits of the two attempts, owned with them. */
  private firstPermit: ReplicaPermit | null = null;
  private secondPermit: ReplicaPermit | null = null;
  private hedgedAtMs = 0;
  private failures: AttemptFailure[] | null = null;
  private outstanding = 0;

  constructor(
    private readonly host: PendingReadHost,
    readonly spec: ReadSpec,
    private readonly sql: string,
    private readonly params: unknown[],
    /** The cluster's latency window. */
    private readonly window: LatencyWindow,
    /** {@link PendingReadHost.now} when the read started. */
    private readonly startMs: number,
    /** How long it may wait before a hedge (ms); Infinity = never hedged. */
    readonly delayMs: number,
    private readonly then: HedgedContinuation<unknown> | undefined,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** When a hedge falls due ({@link PendingReadHost.now} ms). */
  get dueMs(): number {
    return this.startMs + this.delayMs;
  }

  /** Sends the read to its first node, the replica `permit` was taken on. */
  start(permit: ReplicaPermit): void {
    this.outstanding++;
    this.firstPermit = permit;
    this.first = new ReadAttempt(
      permit.owner,
      this.sql,
      this.params,
      this.host.clock,
      this,
      this.spec.guard,
    );
  }

  /** Sends the read to a second node, when one qualifies. */
  fallDue(): void {
    if (this.done || this.first === null) return;
    const target = this.host.hedgeTargetFor(this, this.first.node);
    if (target === undefined) return;
    this.outstanding++;
    this.hedgedAtMs = this.host.now();
    this.secondPermit = target;
    this.second = new ReadAttempt(
      target.owner,
      this.sql,
      this.params,
      this.host.clock,
      this,
    );
  }

  /** @internal see {@link AttemptOwner}. */
  attemptSettled(
    attempt: ReadAttempt,
    rows: Row[] | null,
    error: unknown,
    aborted: AbortReason | null,
  ): void {
    this.outstanding--;
    if (this.done) return; // a loser, already recorded as `lost`
    if (rows !== null) {
      this.done = true;
      if (this.scheduled) this.host.unschedule(this);
      const ms = this.record(attempt);
      const other = attempt === this.first ? this.second : this.first;
      if (attempt === this.second) this.host.hedgeWon();
      if (other !== null && !other.done) {
        (this.failures ??= []).push({
          node: other.node,
          permit: this.permitOf(other),
          error: null,
          aborted: "lost",
        });
        other.abort("lost");
      }
      this.settle({
        rows,
        node: attempt.node,
        permit: this.permitOf(attempt),
        seconds: ms / 1000,
        failures: this.failures ?? NO_FAILURES,
        hedgedTo: this.second?.node ?? null,
      });
      return;
    }
    (this.failures ??= []).push({
      node: attempt.node,
      permit: this.permitOf(attempt),
      error,
      aborted,
    });
    if (this.outstanding === 0) {
      this.done = true;
      if (this.scheduled) this.host.unschedule(this);
      this.settle({
        rows: null,
        failures: this.failures,
        hedgedTo: this.second?.node ?? null,
      });
    }
  }

  /**
   * The permit `attempt` was sent with. By node, not by attempt: an
   * attempt can settle inside its own constructor (a full queue, a node
   * that stopped taking reads), before `first`/`second` point at it; the
   * two attempts of a read are always on different nodes.
   */
  private permitOf(attempt: ReadAttempt): ReplicaPermit {
    const first = this.firstPermit!;
    return attempt.node === first.owner ? first : this.secondPermit!;
  }

  private settle(result: HedgedResult): void {
    if (this.then === undefined) return this.resolve(result);
    try {
      this.resolve(this.then.hedgedSettled(result));
    } catch (error) {
      this.reject(error);
    }
  }

  /** @internal see {@link AttemptOwner}. */
  lostAttemptAnswered(attempt: ReadAttempt): void {
    this.record(attempt);
  }

  /** Records `attempt`'s latency (ms since it was sent) in its node's window and the cluster's. */
  private record(attempt: ReadAttempt): number {
    const sentMs = attempt === this.first ? this.startMs : this.hedgedAtMs;
    const ms = this.host.now() - sentMs;
    attempt.node.latency.record(ms);
    this.window.record(ms);
    return ms;
  }
}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { HedgeBudget } from "./hedge_budget";
import { LatencyWindow } from "../nodes/latency_window";
import type { NodeCluster } from "../nodes/node_cluster";
import type { Consistency } from "../consistency/consistency";
import {
  ReadAttempt,
  type AbortReason,
  type AttemptOwner,
} from "./read_attempt";

type Row = Record<string, unknown>;

/** Hedging settings (REPLICA_HEDGE_*). */
export interface HedgeOptions {
  /** Never hedge sooner than this (ms), whatever the recent latencies say. */
  readonly minDelayMs: number;
  /** Never wait longer than this (ms) before hedging. */
  readonly maxDelayMs: number;
}

/** A replica attempt that did not answer: its node, and why. */
export interface AttemptFailure {
  readonly node: DbNode;
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

/** Chooses the second node of a hedge (the read planner). */
export interface HedgeTargetPicker {
  /** A node that satisfies `consistency`, not in `exclude`, breaker acquired; or undefined. */
  hedgeTarget(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    exclude: readonly DbNode[],
  ): DbNode | undefined;
}

/** What a read is, for choosing its hedge target. */
export interface ReadSpec {
  readonly cluster: NodeCluster;
  readonly consistency: Consistency;
  readonly endpoint: string;
  /** Nodes this read already failed on. */
  readonly tried: readonly DbNode[] | undefined;
}

/** How often due hedges are looked for (ms); the delay floor is 10 ms by default. */
const HEDGE_TICK_MS = 2;
const NO_FAILURES: readonly AttemptFailure[] = Object.freeze([]);

/**
 * Runs a read on a replica and, when it is slower than the cluster's recent
 * p99 (within the configured delay bounds) and the budget allows, sends the
 * same read to a second replica chosen by the planner (which applies the
 * read's consistency: a read-your-writes or bounded read only hedges to a
 * node that satisfies it), takes the first answer and abandons the other.
 * Only replica reads come here: never a write, never a transaction.
 *
 * Cheap on the common path: no timer, closure or `Promise.race` per read. A
 * read that may be hedged registers in one set, and a single `unref()`'d
 * timer, running only while such reads are outstanding, launches the
 * hedges that fall due.
 */
export class HedgedReader {
  private readonly windows = new WeakMap<NodeCluster, LatencyWindow>();
  private readonly waiting = new Set<PendingRead>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly budget: HedgeBudget,
    private readonly picker: HedgeTargetPicker,
    private readonly options: HedgeOptions & { clock: Clock },
  ) {}

  /** The delay after which a read of `cluster` is hedged (ms), or null before enough samples. */
  hedgeDelayMs(cluster: NodeCluster): number | null {
    const p99 = this.window(cluster).percentile(0.99);
    if (p99 === null) return null;
    return Math.min(
      this.options.maxDelayMs,
      Math.max(this.options.minDelayMs, p99),
    );
  }

  /** Reads on `first`, hedging per {@link HedgedReader}. */
  read(
    spec: ReadSpec,
    first: DbNode,
    sql: string,
    params: unknown[],
  ): Promise<HedgedResult> {
    const { cluster } = spec;
    // Hedging needs budget and another serving replica; else no bookkeeping.
    const delay =
      this.budget.enabled &&
      this.budget.available >= 1 &&
      cluster.serving.length > 1
        ? this.hedgeDelayMs(cluster)
        : null;
    this.budget.deposit();
    const run = new PendingRead(
      this,
      spec,
      sql,
      params,
      delay === null ? Infinity : performance.now() + delay,
    );
    run.start(first);
    if (delay !== null && !run.done) {
      this.waiting.add(run);
      if (this.timer === null) {
        this.timer = setInterval(() => this.launchDueHedges(), HEDGE_TICK_MS);
        this.timer.unref();
      }
    }
    return run.promise;
  }

  /** @internal the cluster's latency window. */
  window(cluster: NodeCluster): LatencyWindow {
    let w = this.windows.get(cluster);
    if (w === undefined) this.windows.set(cluster, (w = new LatencyWindow()));
    return w;
  }

  /** @internal */
  get clock(): Clock {
    return this.options.clock;
  }

  /** @internal a second node for `run`, with its hedge paid for; or undefined. */
  hedgeTargetFor(run: PendingRead, first: DbNode): DbNode | undefined {
    const { spec } = run;
    const exclude = spec.tried === undefined ? [first] : [...spec.tried, first];
    const target = this.picker.hedgeTarget(
      spec.cluster,
      spec.consistency,
      spec.endpoint,
      exclude,
    );
    if (target === undefined) return undefined;
    // A hedge never queues: it goes only where a connection is free now.
    if (!target.admission.hasFreeSlot || !this.budget.withdraw()) {
      target.breaker?.release();
      return undefined;
    }
    return target;
  }

  private launchDueHedges(): void {
    const now = performance.now();
    for (const run of this.waiting) {
      if (run.done) this.waiting.delete(run);
      else if (now >= run.hedgeAtMs) {
        this.waiting.delete(run);
        run.hedge();
      }
    }
    if (this.waiting.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** One read in flight: one or two attempts, the first success wins. */
class PendingRead implements AttemptOwner {
  done = false;
  readonly promise: Promise<HedgedResult>;
  private resolve!: (r: HedgedResult) => void;
  private first: ReadAttempt | null = null;
  private second: ReadAttempt | null = null;
  private failures: AttemptFailure[] | null = null;
  private outstanding = 0;

  constructor(
    private readonly reader: HedgedReader,
    readonly spec: ReadSpec,
    private readonly sql: string,
    private readonly params: unknown[],
    /** performance.now() time at which a hedge falls due. */
    readonly hedgeAtMs: number,
  ) {
    this.promise = new Promise((resolve) => (this.resolve = resolve));
  }

  start(node: DbNode): void {
    this.outstanding++;
    this.first = new ReadAttempt(
      node,
      this.sql,
      this.params,
      this.reader.clock,
      this,
    );
  }

  /** Sends the read to a second node, when one qualifies. */
  hedge(): void {
    if (this.done || this.first === null) return;
    const target = this.reader.hedgeTargetFor(this, this.first.node);
    if (target === undefined) return;
    this.outstanding++;
    this.second = new ReadAttempt(
      target,
      this.sql,
      this.params,
      this.reader.clock,
      this,
    );
  }

  attemptSettled(
    attempt: ReadAttempt,
    rows: Record<string, unknown>[] | null,
    error: unknown,
    aborted: AbortReason | null,
  ): void {
    this.outstanding--;
    if (this.done) return; // a loser, already recorded as `lost`
    if (rows !== null) {
      this.done = true;
      const ms = performance.now() - attempt.t0;
      attempt.node.latency.record(ms);
      this.reader.window(this.spec.cluster).record(ms);
      const other = attempt === this.first ? this.second : this.first;
      if (other !== null && !other.done) {
        (this.failures ??= []).push({
          node: other.node,
          error: null,
          aborted: "lost",
        });
        other.abort("lost");
      }
      this.resolve({
        rows,
        node: attempt.node,
        seconds: ms / 1000,
        failures: this.failures ?? NO_FAILURES,
        hedgedTo: this.second?.node ?? null,
      });
      return;
    }
    (this.failures ??= []).push({ node: attempt.node, error, aborted });
    if (this.outstanding === 0) {
      this.done = true;
      this.resolve({
        rows: null,
        failures: this.failures,
        hedgedTo: this.second?.node ?? null,
      });
    }
  }
}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { HedgeBudget } from "./hedge_budget";
import { LatencyWindow } from "../nodes/latency_window";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ReplicaPermit } from "../nodes/replica_node";
import type { Consistency } from "../consistency/consistency";
import {
  HedgeSchedule,
  realHedgeTimers,
  type HedgeTimers,
} from "./hedge_schedule";
import {
  PendingRead,
  type HedgedContinuation,
  type HedgedResult,
  type PendingReadHost,
  type ReadSpec,
} from "./pending_read";

export type {
  AttemptFailure,
  HedgedContinuation,
  HedgedResult,
  ReadSpec,
} from "./pending_read";

/** Hedging settings (REPLICA_HEDGE_*). */
export interface HedgeOptions {
  /** Never hedge sooner than this (ms), whatever the recent latencies say. */
  readonly minDelayMs: number;
  /** Never wait longer than this (ms) before hedging. */
  readonly maxDelayMs: number;
}

/** Chooses the second node of a hedge (the read planner). */
export interface HedgeTargetPicker {
  /** A node that satisfies `consistency`, not in `exclude`: the permit on its breaker; or undefined. */
  hedgeTarget(
    cluster: NodeCluster,
    consistency: Consistency,
    endpoint: string,
    exclude: readonly DbNode[],
  ): ReplicaPermit | undefined;
}

/**
 * How much faster than the hedge delay a target's median read must be for a
 * hedge to go there: a node answering in half the time the read has already
 * waited can still win; one as slow as that is load, and a hedge would only
 * add to it.
 */
export const HEDGE_TARGET_MARGIN = 2;

/**
 * Runs a read on a replica and, when it is slower than the cluster's recent
 * p99 (within the configured delay bounds) and the budget allows, sends the
 * same read to a second replica chosen by the planner (which applies the
 * read's consistency: a read-your-writes or bounded read only hedges to a
 * node that satisfies it), takes the first answer and lets the other run
 * to its end (see `ReadAttempt`). Only replica reads come here: never a
 * write, never a transaction.
 *
 * Hedges go only where they can win: to a node whose recent median latency
 * is at most 1/{@link HEDGE_TARGET_MARGIN} of the delay that triggered the
 * hedge, so none is sent when every replica is as slow as that (load, not
 * an outlier); and the {@link HedgeBudget} pauses hedging when hedges keep
 * losing.
 *
 * Cheap on the common path: no timer, closure or `Promise.race` per read. A
 * read that may be hedged joins a {@link HedgeSchedule} (a few pointer
 * writes) whose single timer is armed for the earliest due read only.
 */
export class HedgedReader implements PendingReadHost {
  /** Hedges sent since start. */
  hedgesSent = 0;
  /** Hedges that answered before the first attempt, since start. */
  hedgesWon = 0;
  private readonly windows = new WeakMap<NodeCluster, LatencyWindow>();
  private lastCluster: NodeCluster | null = null;
  private lastWindow: LatencyWindow | null = null;
  private readonly schedule: HedgeSchedule;
  private readonly timers: HedgeTimers;

  constructor(
    private readonly budget: HedgeBudget,
    private readonly picker: HedgeTargetPicker,
    private readonly options: HedgeOptions & {
      clock: Clock;
      /** Monotonic time and timers; default `performance.now()` and `setTimeout`. */
      timers?: HedgeTimers;
    },
  ) {
    this.timers = options.timers ?? realHedgeTimers;
    this.schedule = new HedgeSchedule(this.timers);
  }

  /** The delay after which a read of `cluster` is hedged (ms), or null before enough samples. */
  hedgeDelayMs(cluster: NodeCluster): number | null {
    return this.delayFrom(this.window(cluster));
  }

  /**
   * Reads on the replica `first` was taken on (its breaker permit, settled
   * by whoever takes the result), hedging per {@link HedgedReader};
   * resolves with the result, or with what `then` makes of it (as the read
   * settles).
   */
  read(
    spec: ReadSpec,
    first: ReplicaPermit,
    sql: string,
    params: unknown[],
  ): Promise<HedgedResult>;
  read<T>(
    spec: ReadSpec,
    first: ReplicaPermit,
    sql: string,
    params: unknown[],
    then: HedgedContinuation<T>,
  ): Promise<T>;
  read(
    spec: ReadSpec,
    first: ReplicaPermit,
    sql: string,
    params: unknown[],
    then?: HedgedContinuation<unknown>,
  ): Promise<unknown> {
    const { cluster } = spec;
    const window = this.window(cluster);
    // Hedging needs budget and another serving replica; else no bookkeeping.
    const delay =
      this.budget.mayHedge && cluster.serving.length > 1
        ? this.delayFrom(window)
        : null;
    this.budget.deposit();
    const run = new PendingRead(
      this,
      spec,
      sql,
      params,
      window,
      this.timers.now(),
      delay ?? Infinity,
      then,
    );
    run.start(first);
    if (delay !== null && !run.done) this.schedule.add(run);
    return run.promise;
  }

  /** Stops the hedge timer; reads in flight run on unhedged. Idempotent. */
  close(): void {
    this.schedule.clear();
  }

  /** @internal the cluster's latency window. */
  window(cluster: NodeCluster): LatencyWindow {
    // Most reads go to one cluster: the last one is kept at hand.
    if (cluster === this.lastCluster) return this.lastWindow!;
    let w = this.windows.get(cluster);
    if (w === undefined) this.windows.set(cluster, (w = new LatencyWindow()));
    this.lastCluster = cluster;
    this.lastWindow = w;
    return w;
  }

  /** @internal */
  get clock(): Clock {
    return this.options.clock;
  }

  /** @internal */
  now(): number {
    return this.timers.now();
  }

  /** @internal */
  unschedule(run: PendingRead): void {
    this.schedule.remove(run);
  }

  /** @internal */
  hedgeWon(): void {
    this.hedgesWon++;
    this.budget.won();
  }

  /** @internal launches the hedges due by now (the schedule's timer does this). */
  launchDueHedges(): void {
    this.schedule.launchDue();
  }

  /** @internal a second node for `run` (its breaker permit), with its hedge paid for; or undefined. */
  hedgeTargetFor(run: PendingRead, first: DbNode): ReplicaPermit | undefined {
    if (!this.budget.mayHedge) return undefined;
    const { spec } = run;
    const exclude = spec.tried === undefined ? [first] : [...spec.tried, first];
    // Only a node clearly faster than what this read has waited can win.
    for (const node of spec.cluster.serving) {
      const median = node.latency.percentile(0.5);
      if (median !== null && median * HEDGE_TARGET_MARGIN > run.delayMs)
        exclude.push(node);
    }
    const target = this.picker.hedgeTarget(
      spec.cluster,
      spec.consistency,
      spec.endpoint,
      exclude,
    );
    if (target === undefined) return undefined;
    // A hedge never queues: it goes only where a connection is free now.
    if (!target.owner.admission.hasFreeSlot || !this.budget.withdraw()) {
      target.release();
      return undefined;
    }
    this.hedgesSent++;
    return target;
  }

  private delayFrom(window: LatencyWindow): number | null {
    const p99 = window.percentile(0.99);
    if (p99 === null) return null;
    return Math.min(
      this.options.maxDelayMs,
      Math.max(this.options.minDelayMs, p99),
    );
  }
}

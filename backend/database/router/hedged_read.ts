import type { Clock } from "./clock";
import type { DbNode } from "./db_node";
import type { HedgeBudget } from "./hedge_budget";
import { LatencyWindow } from "./latency_window";
import type { NodeCluster } from "./node_cluster";
import { ReadAttempt, type AbortReason } from "./read_attempt";

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

/**
 * Runs a read on a replica and, when it is slower than the cluster's recent
 * p99 (within the configured delay bounds) and the budget allows, sends the
 * same read to a second replica chosen by the caller (which applies the
 * read's consistency: a read-your-writes or bounded read only hedges to a
 * node that satisfies it), takes the first answer and abandons the other.
 * Only replica reads come here: never a write, never a transaction.
 */
export class HedgedReader {
  private readonly windows = new WeakMap<NodeCluster, LatencyWindow>();

  constructor(
    private readonly budget: HedgeBudget,
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

  /**
   * Reads on `first`; `hedgeTarget` is asked for a second node only when a
   * hedge is due (it must return a node whose breaker it acquired, or
   * undefined).
   */
  async read(
    cluster: NodeCluster,
    first: DbNode,
    sql: string,
    params: unknown[],
    hedgeTarget: (exclude: DbNode) => DbNode | undefined,
  ): Promise<HedgedResult> {
    const a = new ReadAttempt(first, sql, params, this.options.clock);
    const t0 = performance.now();
    const delay = this.budget.enabled ? this.hedgeDelayMs(cluster) : null;
    this.budget.deposit();
    if (delay !== null) {
      let timer: NodeJS.Timeout | undefined;
      const due = new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), delay);
      });
      const early = await Promise.race([a.outcome, due]);
      clearTimeout(timer);
      if (early === null && this.budget.available >= 1) {
        const target = hedgeTarget(first);
        // A hedge never queues: it goes only where a connection is free now.
        if (
          target !== undefined &&
          target.admission.hasFreeSlot &&
          this.budget.withdraw()
        ) {
          const b = new ReadAttempt(target, sql, params, this.options.clock);
          const tb = performance.now();
          return this.race(
            cluster,
            [
              { attempt: a, t0 },
              { attempt: b, t0: tb },
            ],
            target,
          );
        }
        target?.breaker?.release();
      }
    }
    return this.race(cluster, [{ attempt: a, t0 }], null);
  }

  /** First success wins and the rest are abandoned as `lost`; all failures are reported. */
  private async race(
    cluster: NodeCluster,
    runs: { attempt: ReadAttempt; t0: number }[],
    hedgedTo: DbNode | null,
  ): Promise<HedgedResult> {
    const failures: AttemptFailure[] = [];
    const pending = new Set(runs);
    while (pending.size > 0) {
      const [run, outcome] = await Promise.race(
        [...pending].map((r) => r.attempt.outcome.then((o) => [r, o] as const)),
      );
      pending.delete(run);
      if (outcome.ok) {
        const seconds = (performance.now() - run.t0) / 1000;
        run.attempt.node.latency.record(seconds * 1000);
        this.window(cluster).record(seconds * 1000);
        for (const other of pending) {
          other.attempt.abort("lost");
          failures.push({
            node: other.attempt.node,
            error: null,
            aborted: "lost",
          });
        }
        return {
          rows: outcome.rows,
          node: run.attempt.node,
          seconds,
          failures,
          hedgedTo,
        };
      }
      failures.push({
        node: run.attempt.node,
        error: outcome.error,
        aborted: outcome.aborted,
      });
    }
    return { rows: null, failures, hedgedTo };
  }

  private window(cluster: NodeCluster): LatencyWindow {
    let w = this.windows.get(cluster);
    if (w === undefined) this.windows.set(cluster, (w = new LatencyWindow()));
    return w;
  }
}

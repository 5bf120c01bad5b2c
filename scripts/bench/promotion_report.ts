/**
 * The promotion scenario's section: one column per promoted replica, times
 * relative to `pg_ctl promote -w` returning, judged against the goal of
 * test/integration/promotion.test.ts (no read served by the promoted node
 * later than 250 ms after the promotion).
 */
import type { Section } from "./common";
import { fmt, fmtInt, signed } from "./common";
import { atMost, matrixRow, NONE, type Goal } from "./goals";

/** One read of the scenario. */
export interface Sample {
  /** performance.now() when it ended. */
  end: number;
  /** The value read: 'primary', or the name of the promoted node that wrote it. */
  value: string | null;
  /** The node that served it. */
  node: string | null;
  failed: boolean;
}

/** One promotion; times are performance.now(), NaN when it did not happen. */
export interface Trial {
  node: string;
  promoteStart: number;
  promotedAt: number;
  /** A separate connection saw pg_is_in_recovery() = false. */
  recoveryEndedAt: number;
  /** The router marked the node not_a_replica. */
  outAt: number;
  /** Reads in flight on it that the role watch gave up and retried elsewhere. */
  abandoned: number;
}

const GOAL_MS = 250;

/** The section for `trials` over the reads in `samples`. */
export function promotionSection(
  trials: readonly Trial[],
  samples: readonly Sample[],
  checksPerSecond: number,
  readers: number,
  observeMs: number,
): Section {
  const rows: string[][] = [];
  const row = (
    label: string,
    value: (t: Trial) => number,
    show: (x: number) => string,
    goal?: Goal,
  ) =>
    rows.push(
      matrixRow({
        label,
        columns: trials,
        name: (t) => t.node,
        value,
        show: (x) => show(x),
        ...(goal === undefined ? {} : { goal }),
      }),
    );
  const rel = (x: number) =>
    Number.isFinite(x) ? `${signed(x, 0)} ms` : "never";
  const window = (t: Trial) =>
    samples.filter(
      (s) => s.end >= t.promoteStart && s.end <= t.promotedAt + observeMs,
    );
  const lastFrom = (t: Trial) =>
    samples.reduce(
      (m, s) => (s.node === t.node && s.end > m ? s.end : m),
      -Infinity,
    );
  row(
    "`pg_ctl promote -w` took",
    (t) => t.promotedAt - t.promoteStart,
    (x) => `${fmt(x, 0)} ms`,
  );
  row(
    "recovery ended (seen on a separate connection)",
    (t) => t.recoveryEndedAt - t.promotedAt,
    rel,
  );
  row("router took it out (not_a_replica)", (t) => t.outAt - t.promotedAt, rel);
  row(
    "router took it out, after recovery ended",
    (t) => t.outAt - t.recoveryEndedAt,
    (x) => (Number.isFinite(x) ? `${fmt(x, 0)} ms` : "–"),
  );
  row(
    "last read served by it",
    (t) => lastFrom(t) - t.promotedAt,
    rel,
    atMost(GOAL_MS, " ms"),
  );
  row(
    `reads served by it later than ${GOAL_MS} ms after`,
    (t) =>
      samples.filter((s) => s.node === t.node && s.end > t.promotedAt + GOAL_MS)
        .length,
    fmtInt,
    NONE,
  );
  row(
    "reads that returned the promoted node's own write",
    (t) => samples.filter((s) => s.value === t.node).length,
    fmtInt,
  );
  row(
    "reads in flight there given up and retried elsewhere",
    (t) => t.abandoned,
    (x) => (Number.isFinite(x) ? fmtInt(x) : "–"),
  );
  row(
    `reads from the promote command until ${observeMs / 1000} s after`,
    (t) => window(t).length,
    fmtInt,
  );
  row(
    "failed reads in that window",
    (t) => window(t).filter((s) => s.failed).length,
    fmtInt,
    NONE,
  );
  return {
    id: "promotion",
    title: "Promotion: a replica becomes a primary under load",
    method: [
      `A cluster of its own (primary + ${trials.length} replica(s) in .data/bench-promotion; a promotion cannot be undone). ` +
        `${readers} readers loop \`SELECT v FROM promotion_probe WHERE id = 1\` through one router built with loadConfig from ` +
        "DATABASE_URL and READ_REPLICA_URLS only (all defaults: REPLICA_ROLE_CHECK_INTERVAL 100 ms, REPLICA_LAG_POLL_INTERVAL 1 s). " +
        "The replicas are promoted one after another, last first, each with `pg_ctl promote -w` started right after the router's " +
        "lag sample of it (the lag poll's worst case), then written on directly (the row now holds the node's name, which the primary " +
        `never has); reads go on for ${observeMs / 1000} s after each. Times are relative to \`pg_ctl promote -w\` returning.`,
    ],
    tables: [
      {
        title: `Promoted one at a time under ${readers} readers`,
        headers: ["figure", "goal", ...trials.map((t) => t.node), "verdict"],
        rows,
      },
    ],
    notes: [
      `Goal (issue 20, formerly asserted by test/integration/promotion.test.ts): no read served by a promoted node later than ${GOAL_MS} ms after the promotion, and no failed read.`,
      `Role checks (\`SELECT pg_is_in_recovery()\`) while every replica was healthy: ${fmt(checksPerSecond, 1)} per replica per second.`,
      "A read that ends after the promote command returned but before the router took the node out may still see the new primary's own data; the role watch bounds that window to one check interval plus a round trip once recovery has ended.",
    ],
  };
}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import { withTimeout } from "../support/timeout";
import { parseLsn } from "./lag_tracker";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";

const PRIMARY_SQL = "SELECT pg_current_wal_lsn()::text AS lsn";
// Replay age is computed on the replica (its now() against the primary's
// commit timestamps), so the router's own clock never enters the interval.
const REPLICA_SQL =
  "SELECT pg_is_in_recovery() AS in_recovery," +
  " pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn," +
  " (extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_age_ms," +
  " (SELECT status FROM pg_stat_wal_receiver) AS receiver_status";

/**
 * Samples replication lag: the primary's current WAL LSN, then each
 * replica's receive and replay LSN and the age of its last replayed commit.
 * Sampling the primary first means a replica that has replayed everything
 * reads lag 0.
 */
export class LagMonitor {
  private readonly primaryLsn = new Map<string, bigint>();
  /** When each replica was last seen fully caught up: it cannot be further behind than that. */
  private readonly caughtUpAtMs = new WeakMap<DbNode, number>();

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: {
      timeoutMs: number;
      clock: Clock;
      /** A "replica" answered that it is not in recovery (promoted?): re-check it now. */
      onNotInRecovery?: (cluster: NodeCluster, node: DbNode) => void;
    },
  ) {}

  /** The primary's WAL LSN at the last successful sample of `cluster`. */
  lastPrimaryLsn(cluster: string): bigint | null {
    return this.primaryLsn.get(cluster) ?? null;
  }

  /** Takes one sample of every cluster; never throws. */
  async sampleAll(): Promise<void> {
    await Promise.all(this.clusters().map((c) => this.sampleCluster(c)));
  }

  private async sampleCluster(cluster: NodeCluster): Promise<void> {
    let primaryLsn: bigint | null = null;
    try {
      const rows = await withTimeout(
        cluster.primary.pool.query(PRIMARY_SQL),
        this.options.timeoutMs,
        cluster.primary.name,
      );
      primaryLsn = parseLsn(String(rows.rows[0]?.lsn));
      this.primaryLsn.set(cluster.name, primaryLsn);
    } catch {
      // Primary unreachable from here: each replica is sampled against what it
      // itself receives (see sampleReplica).
    }
    await Promise.all(
      cluster.replicas.map((node) =>
        this.sampleReplica(cluster, node, primaryLsn),
      ),
    );
    cluster.refresh();
  }

  private async sampleReplica(
    cluster: NodeCluster,
    node: DbNode,
    primaryLsn: bigint | null,
  ): Promise<void> {
    if (node.lag === null || node.disabled) return;
    try {
      const rows = await withTimeout(
        node.pool.query(REPLICA_SQL),
        this.options.timeoutMs,
        node.name,
      );
      const row = rows.rows[0] ?? {};
      if (
        row.in_recovery !== true ||
        row.replay_lsn === null ||
        row.replay_lsn === undefined
      ) {
        node.lag.recordFailure("not in recovery: no replay position");
        this.options.onNotInRecovery?.(cluster, node);
        return;
      }
      const replayLsn = parseLsn(String(row.replay_lsn));
      const receiveLsn =
        typeof row.receive_lsn === "string" ? parseLsn(row.receive_lsn) : null;
      node.noteReplayed(replayLsn);
      let target = primaryLsn;
      if (target === null) {
        // The router cannot reach the primary. If this replica still streams
        // from it, the primary is alive (a partition on our side): measure
        // against what the replica has received. If it does not stream either,
        // the primary is down for everyone and nothing new can be written:
        // keep the last reading instead of taking every replica out of
        // rotation exactly when they are the only nodes left to read from.
        if (row.receiver_status !== "streaming" || receiveLsn === null) return;
        target = receiveLsn;
      }
      const sampledAtMs = this.options.clock.now();
      const age =
        typeof row.replay_age_ms === "number" ? row.replay_age_ms : null;
      // A replica seen caught up at T is at most now - T behind, even if its
      // last replayed commit is hours old (an idle primary).
      const caughtUp = this.caughtUpAtMs.get(node);
      const lastReplayAtMs =
        age === null
          ? (caughtUp ?? null)
          : Math.max(sampledAtMs - age, caughtUp ?? -Infinity);
      if (replayLsn >= target) this.caughtUpAtMs.set(node, sampledAtMs);
      node.lag.recordSample({
        primaryLsn: target,
        receiveLsn,
        replayLsn,
        lastReplayAtMs,
        sampledAtMs,
      });
    } catch (err) {
      node.lag.recordFailure(describePgError(err));
    }
  }
}

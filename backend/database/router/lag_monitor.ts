import type { Clock } from "./clock";
import type { DbNode } from "./db_node";
import { withTimeout } from "./health_checker";
import { parseLsn } from "./lag";
import type { NodeCluster } from "./node_cluster";
import { describePgError } from "./pg_errors";

const PRIMARY_SQL = "SELECT pg_current_wal_lsn()::text AS lsn";
const REPLICA_SQL =
  "SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn," +
  " (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::float8 AS replay_ms";

/**
 * Samples replication lag: the primary's current WAL LSN, then each
 * replica's receive and replay LSN and last replay time. Sampling the
 * primary first means a replica that has replayed everything reads lag 0.
 */
export class LagMonitor {
  private readonly primaryLsn = new Map<string, bigint>();

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: { timeoutMs: number; clock: Clock },
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
    let primaryLsn: bigint;
    try {
      const rows = await withTimeout(
        cluster.primary.pool.query(PRIMARY_SQL),
        this.options.timeoutMs,
        cluster.primary.name,
      );
      primaryLsn = parseLsn(String(rows.rows[0]?.lsn));
      this.primaryLsn.set(cluster.name, primaryLsn);
    } catch {
      // Primary unreachable: nothing new can be written, so replicas cannot fall
      // further behind. Keep their last readings rather than mark them unknown,
      // which would take every replica out of rotation exactly when they are
      // the only nodes left to read from.
      return;
    }
    await Promise.all(
      cluster.replicas.map((node) => this.sampleReplica(node, primaryLsn)),
    );
    cluster.refresh();
  }

  private async sampleReplica(node: DbNode, primaryLsn: bigint): Promise<void> {
    if (node.lag === null || node.disabled) return;
    try {
      const rows = await withTimeout(
        node.pool.query(REPLICA_SQL),
        this.options.timeoutMs,
        node.name,
      );
      const row = rows.rows[0] ?? {};
      if (row.replay_lsn === null || row.replay_lsn === undefined) {
        node.lag.recordFailure("not in recovery: no replay position");
        return;
      }
      const replayLsn = parseLsn(String(row.replay_lsn));
      node.noteReplayed(replayLsn);
      node.lag.recordSample({
        primaryLsn,
        receiveLsn:
          typeof row.receive_lsn === "string"
            ? parseLsn(row.receive_lsn)
            : null,
        replayLsn,
        lastReplayAtMs:
          typeof row.replay_ms === "number" ? row.replay_ms : null,
        sampledAtMs: this.options.clock.now(),
      });
    } catch (err) {
      node.lag.recordFailure(describePgError(err));
    }
  }
}

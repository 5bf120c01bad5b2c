import { withTimeout } from "../support/timeout";
import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { ProbeResult } from "./health_tracker";
import type { Logger } from "../support/logger";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";

const PROBE_SQL =
  "SELECT pg_is_in_recovery() AS in_recovery, (SELECT system_identifier::text FROM pg_control_system()) AS system_identifier";
// For roles that may not call pg_control_system(): the role check alone.
const PROBE_SQL_NO_SYSID = "SELECT pg_is_in_recovery() AS in_recovery";

/**
 * Probes every node with one small query per interval: is it up, is its role
 * what we think (a replica must be in recovery and share the primary's
 * system_identifier). Also probes a node at once when a real query on it
 * fails, so a dead replica is known within a round trip, not an interval.
 */
export class HealthChecker {
  private readonly primaryIds = new Map<string, string>();
  private readonly noSysid = new WeakSet<DbNode>();
  private readonly urgent = new WeakSet<DbNode>();

  constructor(
    private readonly clusters: () => readonly NodeCluster[],
    private readonly options: {
      timeoutMs: number;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  /** Probes every node of every cluster: each primary first, then its replicas in parallel. */
  async checkAll(): Promise<void> {
    await Promise.all(
      this.clusters().map(async (cluster) => {
        await this.checkNode(cluster, cluster.primary);
        await Promise.all(
          cluster.replicas.map((n) => this.checkNode(cluster, n)),
        );
      }),
    );
  }

  /** Probes `node` now unless a probe of it is already under way. */
  checkSoon(cluster: NodeCluster, node: DbNode): void {
    if (this.urgent.has(node)) return;
    this.urgent.add(node);
    void this.checkNode(cluster, node).finally(() => this.urgent.delete(node));
  }

  /** The primary's system_identifier, once known. */
  primarySystemIdentifier(cluster: string): string | null {
    return this.primaryIds.get(cluster) ?? null;
  }

  /** Probes one node and records the verdict; never throws. */
  async checkNode(cluster: NodeCluster, node: DbNode): Promise<ProbeResult> {
    const result = await this.probe(node);
    if (node.disabled) return result;
    if (
      node.role === "primary" &&
      result.ok &&
      result.systemIdentifier !== undefined &&
      !result.inRecovery
    ) {
      const known = this.primaryIds.has(cluster.name);
      this.primaryIds.set(cluster.name, result.systemIdentifier);
      // Replicas waiting for this to be verified need not wait for the next interval.
      if (!known) for (const r of cluster.replicas) this.checkSoon(cluster, r);
    }
    let primaryId: string | null = null;
    if (
      node.role === "replica" &&
      result.ok &&
      result.systemIdentifier !== undefined
    ) {
      primaryId = this.primaryIds.get(cluster.name) ?? null;
      if (primaryId === null && !this.noSysid.has(cluster.primary)) {
        // Until the primary has answered once, a server in recovery could be a
        // standby of any cluster: it serves nothing rather than maybe wrong data.
        node.health.recordProbe(
          {
            ok: false,
            error:
              "cannot verify it is a replica of this primary: the primary has not answered yet",
          },
          null,
        );
        cluster.refresh();
        return result;
      }
    }
    // Otherwise (a role that may not read system_identifier) it is checked by role alone.
    node.health.recordProbe(result, primaryId);
    // A failed probe keeps the circuit open. A successful one does not count
    // towards closing it: that is for the trial queries the breaker lets through.
    if (node.breaker !== null && !result.ok)
      node.breaker.recordFailure(result.error ?? "probe failed");
    cluster.refresh();
    return result;
  }

  private async probe(node: DbNode): Promise<ProbeResult> {
    const sql = this.noSysid.has(node) ? PROBE_SQL_NO_SYSID : PROBE_SQL;
    try {
      const rows = await withTimeout(
        node.pool.query(sql),
        this.options.timeoutMs,
        node.name,
      );
      const row = rows.rows[0] ?? {};
      const sysid = row.system_identifier;
      return {
        ok: true,
        inRecovery: row.in_recovery === true,
        ...(typeof sysid === "string" ? { systemIdentifier: sysid } : {}),
      };
    } catch (err) {
      if (sql === PROBE_SQL && (err as { code?: unknown }).code === "42501") {
        // The role may not read pg_control_system() (EXECUTE revoked).
        this.noSysid.add(node);
        this.options.logger.warn(
          "health probe cannot read system_identifier; checking role only",
          {
            node: node.name,
            error: describePgError(err),
          },
        );
        return this.probe(node);
      }
      return { ok: false, error: describePgError(err) };
    }
  }
}

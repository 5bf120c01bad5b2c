import type { QueryCache } from "../cache/query_cache";
import { writeTargets, type WriteGate } from "../cache/write_targets";
import type { NodeCluster } from "../nodes/node_cluster";
import { describePgError } from "../base/pg_errors";
import type { Logger } from "../support/logger";

/**
 * What a committed write tells the query cache: which scopes it may have
 * changed. Sends nothing to the primary: a position read with the write
 * fences the new generations when there is one; otherwise the first fill of
 * each sets its fence (see ScopeVersions).
 */
export class WriteInvalidation {
  constructor(
    private readonly deps: {
      /** The query cache; null when there is none. */
      readonly cache: QueryCache | null;
      /** Decides which tables a write changed (the raw-SQL gate). */
      readonly writeGate: WriteGate;
      readonly logger: Logger;
    },
  ) {}

  /**
   * The cache's write mark, taken before a write that reads its position is
   * sent (see QueryCache.writeMark); undefined without a cache.
   */
  mark(): number | undefined {
    return this.deps.cache?.writeMark();
  }

  /**
   * Invalidates the entries `statements` may have changed: their target
   * tables for `orgId` (the whole cluster when a target is unknown). `lsn`,
   * the primary's position read with the write after its commit, fences the
   * new generations with `mark`, taken before the write was sent. Done when
   * it returns undefined (the in-process tier), else when the promise
   * settles (the shared tier). Never throws or rejects: the write has
   * committed; entries then live up to their TTL.
   */
  invalidate(
    cluster: NodeCluster,
    statements: readonly string[],
    orgId: number | undefined,
    lsn: bigint | null = null,
    mark?: number,
  ): Promise<void> | undefined {
    const cache = this.deps.cache;
    if (cache === null || !cache.invalidating || statements.length === 0)
      return undefined;
    const known =
      lsn !== null && mark !== undefined ? { lsn, mark } : undefined;
    try {
      let tables: string[] | null = [];
      for (const sql of statements) {
        const targets = writeTargets(sql, this.deps.writeGate);
        if (targets === null) {
          tables = null;
          break;
        }
        for (const t of targets) if (!tables.includes(t)) tables.push(t);
      }
      return cache
        .invalidate(cluster.name, tables, orgId, known)
        ?.catch((err: unknown) => this.failed(cluster, err));
    } catch (err) {
      this.failed(cluster, err);
      return undefined;
    }
  }

  private failed(cluster: NodeCluster, err: unknown): void {
    this.deps.logger.error("cache invalidation failed after a write", {
      cluster: cluster.name,
      error: describePgError(err),
    });
  }
}

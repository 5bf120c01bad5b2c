import { formatToken } from "../consistency/consistency";
import type { ClusterDirectory } from "../topology/cluster_directory";
import type { HealthChecker } from "../health/health_checker";
import { isValidLsn, parseLsn } from "../lag/lag_tracker";
import { classifyPgError, describePgError } from "../base/pg_errors";
import {
  knownWritePosition,
  type RequestContext,
} from "../base/request_context";
import type { Logger } from "../support/logger";
import { withTimeout } from "../support/timeout";
import { primaryFailure } from "./primary_failure";

/** Longest wait for the primary's position for a fence (a missing fence only delays caching). */
const FENCE_TIMEOUT_MS = 250;

/**
 * The primary's WAL position as a token or fence needs it: at or past the
 * end of every commit that has returned. The insert position, not
 * `pg_current_wal_lsn()` (the write position): under
 * `synchronous_commit = off` (a session's, or a transaction's SET LOCAL) a
 * COMMIT returns before its record is written, so the write position can
 * precede it, and a replica that replayed that far would not show the
 * write. See {@link recordEnd} for how the insert position is read.
 */
export const POSITION_EXPRESSION = "pg_current_wal_insert_lsn()::text";

const POSITION_SQL = `SELECT ${POSITION_EXPRESSION} AS lsn`;

/** XLOG_BLCKSZ, PostgreSQL's WAL page size (a build option; 8 kB everywhere in practice). */
const WAL_PAGE = 8192n;

/**
 * The insert position as a record end. When the insert position is at a
 * page boundary PostgreSQL reports it past the next page's header (where
 * the next record will start: 24 bytes, 40 at a segment's first page),
 * while a replica's replay position is the end of the last record it
 * replayed, the boundary itself: with nothing written after, it would
 * never reach the token. So an insert position 24 or 40 bytes into a page
 * is taken back to the boundary. Safe either way: the insert position is
 * where the next record starts, so between the boundary and it lie only a
 * page header or the tail of a record continued from the page before (a
 * 40-byte offset on a page with a short header). No record ends between
 * the boundary and that offset except such a tail, at the offset itself,
 * and none ends at the boundary when a record spans it: a replica whose
 * replay position is at or past the boundary has replayed everything up
 * to the offset. Assumes 8 kB WAL pages (PostgreSQL's default and the
 * managed services'); on a build with larger pages an offset of 24 or 40
 * bytes from an 8 kB multiple may be a real record end, and a token would
 * then fall short of it by those bytes.
 */
export function recordEnd(lsn: bigint): bigint {
  const offset = lsn % WAL_PAGE;
  return offset === 24n || offset === 40n ? lsn - offset : lsn;
}

/**
 * The primary's WAL position when it is asked for with a statement of its
 * own: a consistency token no write brought along, and the fence a cache
 * fill finds missing. Writes never call these (they bring their position,
 * or need none).
 */
export class WalPositions {
  constructor(
    private readonly deps: {
      readonly directory: ClusterDirectory;
      readonly health: HealthChecker;
      readonly logger: Logger;
    },
  ) {}

  /**
   * A consistency token for `clusterName`: a read carrying it sees every
   * write `ctx` has completed there. From the position read with those
   * writes when each was (no round trip), else the primary's position now.
   * @throws {NodeUnavailableError} when the primary cannot be asked.
   */
  async consistencyToken(
    clusterName: string,
    ctx?: RequestContext,
  ): Promise<string> {
    const cluster = this.deps.directory.named(clusterName);
    const known = knownWritePosition(ctx, cluster.name);
    if (known !== undefined)
      return formatToken({ cluster: cluster.name, lsn: known });
    let rows: Record<string, unknown>[];
    try {
      // Not through admission: the write it follows has committed and given
      // its slot back; queueing (or shedding) here would only drop the token
      // and leave the client's next read merely eventual. One tiny statement.
      rows = await cluster.primary.query(POSITION_SQL, []);
    } catch (err) {
      throw classifyPgError(err) === "node"
        ? primaryFailure(this.deps.health, cluster, err)
        : err;
    }
    return formatToken({
      cluster: cluster.name,
      lsn: recordEnd(parseLsn(String(rows[0]?.lsn))),
    });
  }

  /**
   * The token to return after a request (`ctx`) that wrote to
   * `clusterName`, or null when the primary could not be asked. Without a
   * round trip when the request's writes brought their positions (see
   * `RequestContext.wantsToken`). Never throws: the write has already
   * committed, and failing the response would make a client retry a write
   * that happened. Without a token the client's next read is merely eventual.
   */
  async tokenAfterWrite(
    clusterName: string,
    ctx?: RequestContext,
  ): Promise<string | null> {
    try {
      return await this.consistencyToken(clusterName, ctx);
    } catch (err) {
      this.deps.logger.warn(
        "could not read the primary's WAL position after a write; no consistency token sent",
        { cluster: clusterName, error: describePgError(err) },
      );
      return null;
    }
  }

  /**
   * The primary's WAL position now, for a fence a cache fill finds missing
   * (not through admission: one tiny statement). Bounded: without an answer
   * within 250 ms there is no fence, which only delays caching of those scopes.
   */
  async currentLsn(clusterName: string): Promise<bigint | null> {
    const primary = this.deps.directory.named(clusterName).primary;
    // A primary known to be down is not asked (fills then store nothing).
    if (primary.health.verdict === "unhealthy") return null;
    const rows = await withTimeout(
      primary.query(POSITION_SQL, []),
      FENCE_TIMEOUT_MS,
      primary.name,
    );
    const text = rows[0]?.lsn;
    return typeof text === "string" ? recordEnd(parseLsn(text)) : null;
  }
}

/** A position as {@link POSITION_EXPRESSION} gave it, as a record end; null when absent or not one. */
export function lsnOrNull(text: string | null): bigint | null {
  return text !== null && isValidLsn(text) ? recordEnd(parseLsn(text)) : null;
}

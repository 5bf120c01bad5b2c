import { analyzeSqlCached } from "../sql/classification_cache";

/** What {@link writeTargets} asks of the raw-SQL gate. */
export interface WriteGate {
  /** Proven read-only: classifier, refusals, and no VOLATILE user function. */
  provablyReadOnly(sql: string): boolean;
  /** May a call to one of `functions` (bare, lower-case) write? True while unknown. */
  mayCallWritingFunction(functions: readonly string[]): boolean;
  /** Did a standby refuse exactly this text as a write? */
  refusedOnStandby(sql: string): boolean;
}

/**
 * The tables a statement may change, for cache invalidation: `[]` for a
 * statement proven read-only (or a SELECT that only locks rows and calls
 * no function), the target tables of INSERT / UPDATE / DELETE / MERGE /
 * TRUNCATE / COPY ... FROM (data-modifying CTEs and EXPLAIN ANALYZE
 * included), and null when they cannot be told (DDL, a function that may
 * write, SQL that does not parse): then the caller invalidates the whole
 * cluster.
 *
 * Writes a statement causes elsewhere (triggers, rules, functions) are not
 * seen: a repository whose tables change that way declares them on its
 * cached reads' scopes (see docs/cache.md).
 */
export function writeTargets(
  sql: string,
  gate: WriteGate,
): readonly string[] | null {
  if (gate.provablyReadOnly(sql)) return NONE;
  // One analysis of the text, shared with the read gate (cached).
  const { verdict: c, writes: found } = analyzeSqlCached(sql);
  if (found.kind === "unknown") return null;
  if (found.kind === "session") return NONE;
  const { tables, locks, calls } = found;
  // A function that may write can write anywhere (pg_advisory_xact_lock,
  // set_config or to_char cannot: they are not VOLATILE user functions).
  if (calls.length > 0 && gate.mayCallWritingFunction(calls)) return null;
  if (tables.length > 0) return tables;
  // Not provably read-only, yet no target found. A standby refused it as a
  // write (a view calling a writing function...): unknown.
  if (gate.refusedOnStandby(sql)) return null;
  // Read-only as written: unknown only if a call may write.
  if (c.readOnly)
    return c.functions.length > 0 && gate.mayCallWritingFunction(c.functions)
      ? null
      : NONE;
  // Only a locking clause, or a built-in that acts on the primary's own
  // state (advisory locks, settings, sequences), kept it off replicas.
  if (locks && c.kind === "locking") return NONE;
  if (c.kind === "primary_state") return NONE;
  // A write the scan above did not place (a data-modifying statement in an
  // unusual position, SELECT INTO, ...): unknown.
  return null;
}

const NONE: readonly string[] = Object.freeze([]);

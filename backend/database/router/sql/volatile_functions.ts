import { type Clock, systemClock } from "../support/clock";

/** Minimal query interface so this file does not depend on pg (a `pg.Pool` fits). */
export interface CatalogQuerier {
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
}

/** Options of {@link VolatileFunctionCatalog}. */
export interface VolatileFunctionCatalogOptions {
  /** Age after which {@link VolatileFunctionCatalog.isStale} says reload; default 5 minutes. */
  refreshIntervalMs?: number;
  /** Time source; default {@link systemClock}. */
  clock?: Clock;
  /**
   * User functions known to be read-only although VOLATILE
   * (READ_ONLY_FUNCTIONS), lower-case: `name` covers that name in every
   * schema, `schema.name` only that schema's. They are left out of the set.
   */
  readOnlyFunctions?: readonly string[];
}

// Built-in schemas are left to the classifier's deny-list: they hold many
// VOLATILE functions that only read (random(), clock_timestamp(), timeofday(),
// gen_random_uuid(), pg_sleep(), pg_backend_pid(), pg_last_wal_replay_lsn()...),
// so provolatile there would send ordinary monitoring reads to the primary.
const BUILTIN_SCHEMAS: ReadonlySet<string> = new Set([
  "pg_catalog",
  "information_schema",
]);

/** The one catalog query; filters built-in schemas on the server to keep the result small. */
export const VOLATILE_FUNCTIONS_SQL = `SELECT n.nspname AS schema_name, p.proname AS function_name
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE p.provolatile = 'v'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

const DEFAULT_REFRESH_INTERVAL_MS = 5 * 60_000;

/**
 * Cache of the database's VOLATILE user functions (`pg_proc.provolatile =
 * 'v'` outside pg_catalog and information_schema), loaded from the primary.
 * PostgreSQL cannot tell a volatile function that writes from one that only
 * reads, so the router treats every such call as a possible write.
 *
 * Names are stored lower-case, both bare (`bump_counter`) and qualified
 * (`public.bump_counter`). Matching a bare call against every schema's names
 * ignores search_path, which can only send more to the primary.
 *
 * Functions listed in `readOnlyFunctions` (as Pgpool-II's
 * `read_only_function_list`) are not stored at all, so calls to them may go
 * to a replica. A bare call `f()` then counts as VOLATILE only if some
 * schema has a VOLATILE `f` that is not listed; a qualified call `s.f()`
 * also checks the bare name, so it stays on the primary when another
 * schema has an unlisted VOLATILE `f` (the conservative side).
 */
export class VolatileFunctionCatalog {
  private names: ReadonlySet<string> = new Set();
  private loadedAtMs: number | undefined;
  private readonly refreshIntervalMs: number;
  private readonly clock: Clock;
  private readonly readOnly: ReadonlySet<string>;

  /** @throws {RangeError} when `refreshIntervalMs` is not a positive number. */
  constructor(opts: VolatileFunctionCatalogOptions = {}) {
    const refreshIntervalMs =
      opts.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (!(refreshIntervalMs > 0)) {
      throw new RangeError(
        `refreshIntervalMs must be positive, got ${refreshIntervalMs}`,
      );
    }
    this.refreshIntervalMs = refreshIntervalMs;
    this.clock = opts.clock ?? systemClock;
    this.readOnly = new Set(
      (opts.readOnlyFunctions ?? []).map((f) => f.toLowerCase()),
    );
  }

  /**
   * Loads (or reloads) the set with exactly one query. Rows from built-in
   * schemas, and functions listed as read-only, are ignored. On failure the
   * previous set and its age are kept, so the router can go on using it.
   *
   * @throws whatever `db.query` throws.
   */
  async load(db: CatalogQuerier): Promise<void> {
    const { rows } = await db.query(VOLATILE_FUNCTIONS_SQL);
    const names = new Set<string>();
    for (const row of rows) {
      const schema = row["schema_name"];
      const name = row["function_name"];
      if (typeof schema !== "string" || typeof name !== "string") continue;
      const s = schema.toLowerCase();
      if (BUILTIN_SCHEMAS.has(s)) continue;
      const n = name.toLowerCase();
      if (this.readOnly.has(n) || this.readOnly.has(`${s}.${n}`)) continue;
      names.add(n);
      names.add(`${s}.${n}`);
    }
    // Swap only once complete, so a concurrent hasVolatile never sees half a set.
    this.names = names;
    this.loadedAtMs = this.clock.now();
  }

  /**
   * True when any of `functions` (bare or `schema.name`, lower-case, as
   * the classifier reports them) is a loaded VOLATILE user function.
   * Before the first load this is false; check {@link loaded} first.
   */
  hasVolatile(functions: readonly string[]): boolean {
    for (const f of functions) if (this.names.has(f)) return true;
    return false;
  }

  /** Whether a load has succeeded at least once. */
  get loaded(): boolean {
    return this.loadedAtMs !== undefined;
  }

  /** True when never loaded, or the last load is `refreshIntervalMs` old or older. */
  isStale(): boolean {
    return (
      this.loadedAtMs === undefined ||
      this.clock.now() - this.loadedAtMs >= this.refreshIntervalMs
    );
  }
}

import { systemClock, type Clock } from "./clock";

/** Minimal query interface, so this file does not depend on pg. */
export interface CatalogQuerier {
  query(text: string): Promise<{ rows: Array<Record<string, unknown>> }>;
}

// Built-ins (pg_catalog, information_schema) are judged by the classifier's
// own deny-list: many are VOLATILE yet read-only (random(), clock_timestamp(),
// pg_last_wal_replay_lsn()...). Every other VOLATILE function may write.
const SQL = `SELECT n.nspname AS schema, p.proname AS name
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

/** Cache of the database's user-defined VOLATILE functions, loaded from the primary. */
export class VolatileFunctionCatalog {
  private names = new Set<string>();
  private loadedAtMs: number | null = null;
  private readonly refreshIntervalMs: number;
  private readonly clock: Clock;

  constructor(options: { refreshIntervalMs?: number; clock?: Clock } = {}) {
    this.refreshIntervalMs = options.refreshIntervalMs ?? 5 * 60_000;
    this.clock = options.clock ?? systemClock;
  }

  /** Loads (or reloads) the set with one query; names kept lower-case, bare and schema-qualified. */
  async load(db: CatalogQuerier): Promise<void> {
    const { rows } = await db.query(SQL);
    const names = new Set<string>();
    for (const row of rows) {
      const name = String(row.name).toLowerCase();
      names.add(name);
      names.add(`${String(row.schema).toLowerCase()}.${name}`);
    }
    this.names = names;
    this.loadedAtMs = this.clock.now();
  }

  /** True when any of `functions` is a known VOLATILE user function. */
  hasVolatile(functions: readonly string[]): boolean {
    for (const f of functions) if (this.names.has(f)) return true;
    return false;
  }

  /** Whether a load has succeeded. */
  get loaded(): boolean {
    return this.loadedAtMs !== null;
  }

  /** True when never loaded or older than the refresh interval. */
  isStale(): boolean {
    return this.loadedAtMs === null || this.clock.now() - this.loadedAtMs >= this.refreshIntervalMs;
  }
}

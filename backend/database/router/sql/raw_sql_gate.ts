import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import { withTimeout } from "../support/timeout";
import type { Logger } from "../support/logger";
import { describePgError } from "../base/pg_errors";
import { RefusalMemory, type RefusalNote } from "./refusal_memory";
import { classifySqlCached } from "./classification_cache";
import type { VolatileFunctionCatalog } from "./volatile_functions";

/**
 * Decides whether raw SQL may run on a replica: the classifier must prove it
 * read-only (no built-in a standby refuses or that acts on one node's
 * state), no function it calls may be a VOLATILE user function (unless
 * listed in READ_ONLY_FUNCTIONS, applied by the catalog), and a standby must
 * not have refused the same text before. Until the catalog has loaded, any
 * call is suspect.
 */
export class RawSqlGate {
  /** Statements standbys refused anyway: sent to the primary next time, logged once per shape. */
  readonly refusals = new RefusalMemory();
  private loading = false;
  private triedAtMs = -Infinity;

  constructor(
    readonly catalog: VolatileFunctionCatalog,
    /** Nodes to load the catalog from, in order of preference. */
    private readonly sources: () => readonly DbNode[],
    private readonly options: {
      timeoutMs: number;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  /** True only for SQL proven read-only that calls no VOLATILE user function. */
  provablyReadOnly(sql: string): boolean {
    const c = classifySqlCached(sql);
    if (!c.readOnly || this.refusals.refused(sql)) return false;
    if (c.functions.length === 0) return true;
    if (
      this.refusals.replicaSessionsNeedTempSchema &&
      (c.functions.includes("current_schema") ||
        c.functions.includes("current_schemas"))
    ) {
      return false;
    }
    // Without the catalog a user's VOLATILE function cannot be told from a pure one.
    if (!this.catalog.loaded) {
      this.kick();
      return false;
    }
    return !this.catalog.hasVolatile(c.functions);
  }

  /**
   * May a call to one of `functions` write? True for a VOLATILE user
   * function (unless in READ_ONLY_FUNCTIONS), and for any call while the
   * catalog has not loaded.
   */
  mayCallWritingFunction(functions: readonly string[]): boolean {
    return !this.catalog.loaded || this.catalog.hasVolatile(functions);
  }

  /** Did a standby refuse exactly this text as a write (it goes to the primary now)? */
  refusedOnStandby(sql: string): boolean {
    return this.refusals.refused(sql);
  }

  /**
   * Records that a standby refused `sql` with `err` (classified `read_only`)
   * and the read was retried on the primary: the same text goes straight to
   * the primary from now on. Returns the statement's shape and whether this
   * is its first refusal, so the caller logs each shape once.
   */
  noteRefusal(sql: string, err: unknown): RefusalNote {
    return this.refusals.note(
      sql,
      (err as { message?: unknown } | null)?.message,
    );
  }

  /**
   * Loads the catalog from the first source that answers, each bounded by
   * the probe timeout; logs when none does. Never throws.
   */
  async refresh(): Promise<void> {
    let lastError: unknown;
    for (const node of this.sources()) {
      try {
        await withTimeout(
          this.catalog.load(node.pool),
          this.options.timeoutMs,
          node.name,
        );
        return;
      } catch (err) {
        lastError = err;
      }
    }
    this.options.logger.warn(
      "could not load the catalog of volatile functions; raw SQL calling functions goes to the primary until it loads",
      { error: describePgError(lastError) },
    );
  }

  /** Starts a load when none has succeeded, at most once per timeout period. */
  private kick(): void {
    const now = this.options.clock.now();
    if (this.loading || now - this.triedAtMs < this.options.timeoutMs) return;
    this.loading = true;
    this.triedAtMs = now;
    void this.refresh().finally(() => {
      this.loading = false;
    });
  }
}

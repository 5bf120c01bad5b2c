import {
  type BreakerPermit,
  CircuitBreaker,
  type CircuitStateName,
} from "../health/circuit_breaker";
import { withTimeout } from "../support/timeout";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";
import type { SharedStore } from "./shared_store";

/** Options of {@link GuardedStore}. */
export interface GuardedStoreOptions {
  /** Longest a call waits for the store; ms, > 0. A later answer is ignored. */
  timeoutMs: number;
  /** Consecutive failures or timeouts that open the breaker; positive integer. */
  failureThreshold: number;
  /** How long the breaker stays open before one trial call; ms, >= 0. */
  openDurationMs: number;
  /** Source of time for the breaker (timeouts use real timers). */
  clock: Clock;
  /** Where breaker and lost-invalidation transitions are logged. */
  logger: Logger;
  /** Generation keys whose bump invalidates every entry (each cluster's epoch); read at each recovery. */
  epochKeys: () => readonly string[];
  /** Expiry of the epoch keys bumped by a recovery; ms, positive integer. */
  generationTtlMs: number;
  /**
   * Called after a recovery bumped the epoch keys, with their new
   * generations: the cache sets their fences (the primary's position now),
   * so fills that read older data are not stored under them.
   */
  onRecovered?: (
    keys: readonly string[],
    generations: readonly number[],
  ) => void;
  /** Called once per breaker transition (`closed`, `open`, `half_open`). */
  onStateChange?: (from: string, to: string, reason: string) => void;
}

/** What the status endpoint shows of a guarded store. Holds no URL and no cached value. */
export interface GuardedStoreState {
  name: string;
  breaker: CircuitStateName;
  /** A generation bump failed; nothing is read from the store until every epoch key has been bumped. */
  invalidationLost: boolean;
  /** The last failure (error code or short message), null after a success. */
  lastError: string | null;
}

/**
 * A {@link SharedStore} made safe to call on the request path: no method
 * rejects, and none waits longer than `timeoutMs`. A store that fails
 * `failureThreshold` times in a row is left alone for `openDurationMs`
 * (calls resolve at once with "unavailable"), then one trial call decides
 * whether to use it again ({@link CircuitBreaker}, closing on one success).
 *
 * Lost invalidations: when a generation bump fails, other instances may
 * hold entries that the write made stale, and nothing tells them. Until
 * every epoch key (`epochKeys()`, which every entry depends on) has been
 * bumped, this store reads and writes nothing; the first call the breaker
 * lets through performs that bump first (no timer). A loss recorded while
 * a recovery bump is in flight is not covered by it (the bump may already
 * have been applied), so that recovery does not clear the flag.
 */
export class GuardedStore {
  /** The wrapped store's name. */
  readonly name: string;
  private readonly breaker: CircuitBreaker;
  private invalidationLost = false;
  // Bumped on every loss, so a recovery clears only the losses before it.
  private lossCount = 0;
  private recovery: Promise<void> | undefined;
  private lastError: string | null = null;
  private closing: Promise<void> | undefined;

  /** @throws RangeError naming the option when a number is out of range. */
  constructor(
    private readonly store: SharedStore,
    private readonly options: GuardedStoreOptions,
  ) {
    if (!(options.timeoutMs > 0) || !Number.isFinite(options.timeoutMs))
      throw new RangeError(
        `timeoutMs must be a positive number, got ${String(options.timeoutMs)}`,
      );
    if (
      !Number.isSafeInteger(options.generationTtlMs) ||
      options.generationTtlMs < 1
    )
      throw new RangeError(
        `generationTtlMs must be a positive integer, got ${String(options.generationTtlMs)}`,
      );
    this.name = store.name;
    this.breaker = new CircuitBreaker({
      node: store.name,
      failureThreshold: options.failureThreshold,
      openDurationMs: options.openDurationMs,
      successThreshold: 1,
      clock: options.clock,
    });
    this.breaker.onStateChange(({ from, to, reason }) => {
      const fields = { store: this.name, from, to, reason };
      if (to === "open")
        options.logger.warn("query cache shared tier unavailable", fields);
      else options.logger.info(`query cache shared tier ${to}`, fields);
      options.onStateChange?.(from, to, reason);
    });
  }

  /** The entry at `key`; undefined when absent or the store is unavailable. */
  getEntry(key: string): Promise<string | undefined> {
    return this.guard("getEntry", () => this.store.getEntry(key), undefined);
  }

  /** Stores an entry; false when it was not stored (store unavailable). */
  setEntry(key: string, value: string, ttlMs: number): Promise<boolean> {
    const stored = () =>
      this.store.setEntry(key, value, ttlMs).then(() => true);
    return this.guard("setEntry", stored, false);
  }

  /** Generations of `keys`; undefined when the store is unavailable. */
  getGenerations(keys: readonly string[]): Promise<number[] | undefined> {
    const read = () => this.store.getGenerations(keys);
    return this.guard("getGenerations", read, undefined);
  }

  /**
   * Bumps `keys`; their new values, or undefined when the bump failed or was
   * not attempted, in which case the invalidation counts as lost (see the
   * class comment).
   */
  bumpGenerations(
    keys: readonly string[],
    ttlMs: number,
  ): Promise<number[] | undefined> {
    const bump = () => this.store.bumpGenerations(keys, ttlMs);
    return this.guard("bumpGenerations", bump, undefined, true);
  }

  /** Stores fences not yet set; false when the store is unavailable. */
  setFences(
    fences: ReadonlyArray<readonly [key: string, lsn: string]>,
    ttlMs: number,
  ): Promise<boolean> {
    const stored = () => this.store.setFences(fences, ttlMs).then(() => true);
    return this.guard("setFences", stored, false);
  }

  /** Fences at `keys`; undefined when the store is unavailable. */
  getFences(
    keys: readonly string[],
  ): Promise<(string | undefined)[] | undefined> {
    return this.guard("getFences", () => this.store.getFences(keys), undefined);
  }

  /** Would a read reach the store now? False while open, on a trial in flight, or with an invalidation lost. */
  available(): boolean {
    return (
      this.closing === undefined &&
      !this.invalidationLost &&
      this.breaker.canAttempt()
    );
  }

  /** For the status endpoint. */
  state(): GuardedStoreState {
    return {
      name: this.name,
      breaker: this.breaker.stateName,
      invalidationLost: this.invalidationLost,
      lastError: this.lastError,
    };
  }

  /** Closes the wrapped store; later calls resolve as unavailable. Idempotent, never rejects. */
  close(): Promise<void> {
    this.closing ??= this.store.close().catch(() => {});
    return this.closing;
  }

  /**
   * Runs `call` when the breaker allows it and no invalidation is lost
   * (recovering first when one is), within `timeoutMs` in all.
   */
  private async guard<T>(
    what: string,
    call: () => Promise<T>,
    unavailable: T,
    isBump = false,
  ): Promise<T> {
    if (this.closing !== undefined) {
      if (isBump) this.recordLoss("store closed");
      return unavailable;
    }
    const deadline = performance.now() + this.options.timeoutMs;
    if (this.invalidationLost && !(await this.recover(deadline))) {
      if (isBump) this.recordLoss("invalidation recovery pending");
      return unavailable;
    }
    const remainingMs = deadline - performance.now();
    if (remainingMs < 1) {
      if (isBump) this.recordLoss("timeout spent on the recovery");
      return unavailable;
    }
    const permit = this.breaker.tryAcquire();
    if (permit === null) {
      if (isBump) this.recordLoss("breaker open");
      return unavailable;
    }
    try {
      return await this.attempt(what, call, remainingMs, permit);
    } catch (err) {
      if (isBump) this.recordLoss(describe(err));
      return unavailable;
    }
  }

  /** Runs the recovery bump (when the breaker allows) or waits for the one in flight; true once nothing is lost. */
  private async recover(deadline: number): Promise<boolean> {
    if (this.recovery !== undefined) {
      // Another call's recovery: wait for it as long as this call may.
      const remainingMs = deadline - performance.now();
      if (remainingMs < 1) return false;
      await withTimeout(this.recovery, remainingMs, "recovery").catch(() => {});
      return !this.invalidationLost;
    }
    const permit = this.breaker.tryAcquire();
    if (permit === null) return false;
    const lossesBefore = this.lossCount;
    const keys = this.options.epochKeys();
    // Bounded by timeoutMs itself, like any store call.
    this.recovery = this.attempt(
      "recovery bumpGenerations",
      () => this.store.bumpGenerations(keys, this.options.generationTtlMs),
      this.options.timeoutMs,
      permit,
    )
      .then((generations) => {
        this.options.onRecovered?.(keys, generations);
        if (this.lossCount !== lossesBefore) return;
        this.invalidationLost = false;
        this.options.logger.info(
          "query cache lost invalidation recovered: epoch keys bumped",
          { store: this.name, epochKeys: keys.length },
        );
      })
      .catch(() => {})
      .finally(() => {
        this.recovery = undefined;
      });
    await this.recovery;
    return !this.invalidationLost;
  }

  /**
   * One store call on the breaker `permit` already taken: bounded by
   * `timeoutMs`, its outcome given to the permit exactly once.
   * @throws what the call threw, or the timeout error.
   */
  private async attempt<T>(
    what: string,
    call: () => Promise<T>,
    timeoutMs: number,
    permit: BreakerPermit,
  ): Promise<T> {
    let result: T;
    try {
      result = await withTimeout(
        // A synchronous throw becomes a rejection like any other failure.
        Promise.resolve().then(call),
        timeoutMs,
        `${this.name} ${what}`,
      );
    } catch (err) {
      if (err instanceof RangeError) {
        // The caller's mistake (a bad TTL), not the store's: no verdict.
        permit.release();
        const fields = { store: this.name, call: what, error: describe(err) };
        this.options.logger.error("query cache call refused", fields);
      } else {
        this.lastError = describe(err);
        permit.failure(this.lastError);
      }
      throw err;
    }
    this.lastError = null;
    permit.success();
    return result;
  }

  private recordLoss(reason: string): void {
    this.lossCount += 1;
    if (this.invalidationLost) return;
    this.invalidationLost = true;
    this.options.logger.warn(
      "query cache invalidation lost: shared entries distrusted until every epoch key is bumped",
      { store: this.name, reason },
    );
  }
}

/** An error as logs and state() show it: code and short message, URLs removed (they may hold a password). */
function describe(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const text =
    typeof code === "string" && !message.includes(code)
      ? `${code}: ${message}`
      : message;
  return text.replace(/[a-z][a-z0-9+.-]*:\/\/\S*/gi, "<url>").slice(0, 200);
}

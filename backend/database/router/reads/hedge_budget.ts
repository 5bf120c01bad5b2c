/**
 * How many hedged (backup) reads may be sent: a token bucket filled by
 * ordinary reads, as Finagle's `BackupRequestFilter(maxExtraLoad)` and gRPC's
 * retry throttling do. Each read deposits `ratio` of a token, a hedge takes
 * a whole one, and the bucket holds at most `burst`, so over any long window
 * hedges stay under `ratio` of reads, while a short fault (a replica freezing)
 * can still hedge `burst` reads at once.
 */
export class HedgeBudget {
  private tokens: number;

  constructor(
    /** Extra load allowed, 0..1 (0 = never hedge). */
    readonly ratio: number,
    /** Largest number of hedges that may be sent back to back. */
    readonly burst: number,
  ) {
    this.tokens = ratio > 0 ? burst : 0;
  }

  /** True when a hedge may be sent now; hedging is off when `ratio` is 0. */
  get enabled(): boolean {
    return this.ratio > 0;
  }

  /** One ordinary read happened. */
  deposit(): void {
    if (this.tokens < this.burst) this.tokens += this.ratio;
  }

  /** Takes one token for a hedge; false when the budget is spent. */
  withdraw(): boolean {
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens left (for tests and the status page). */
  get available(): number {
    return this.tokens;
  }
}

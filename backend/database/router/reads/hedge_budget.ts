/**
 * How many hedged (backup) reads may be sent: two token buckets filled by
 * ordinary reads, after Finagle's `BackupRequestFilter(maxExtraLoad)` and
 * gRPC's retry throttling.
 *
 * - **Load**: each read deposits `ratio` of a token, each hedge takes a
 *   whole one, the bucket holds at most `burst`. Over any long window hedges
 *   stay under `ratio` of reads, while a short fault (a replica freezing)
 *   can still hedge `burst` reads at once.
 * - **Waste**: a hedge also takes a token from a second bucket, filled at
 *   `wasteShare` × `ratio` per read (at most `wasteBurst`), and gets it back
 *   when it wins (answers first). Hedges that keep losing are load, not an
 *   outlier (every replica is slow, or the tail is the client's own): they
 *   stop within `wasteBurst` hedges and then stay under `wasteShare` ×
 *   `ratio` of reads, while hedges that win (a frozen or much slower
 *   replica) are limited by the load bucket only.
 *
 * The read path pays two additions per read; the rest happens per hedge.
 */
export class HedgeBudget {
  private tokens: number;
  private wasteTokens: number;
  private readonly wasteRatio: number;

  constructor(
    /** Extra load allowed, 0..1 (0 = never hedge). */
    readonly ratio: number,
    /** Largest number of hedges that may be sent back to back. */
    readonly burst: number,
    /** Share of `ratio` that hedges which lose may use (default 0.2). */
    wasteShare = 0.2,
    /** Hedges that may lose back to back before hedging pauses (default `burst` / 2). */
    readonly wasteBurst = Math.max(1, Math.floor(burst / 2)),
  ) {
    this.tokens = ratio > 0 ? burst : 0;
    this.wasteTokens = ratio > 0 ? wasteBurst : 0;
    this.wasteRatio = ratio * wasteShare;
  }

  /** Hedging is configured on (`ratio` above 0). */
  get enabled(): boolean {
    return this.ratio > 0;
  }

  /** True when a hedge could be paid for now. */
  get mayHedge(): boolean {
    return this.tokens >= 1 && this.wasteTokens >= 1;
  }

  /** One ordinary read happened. */
  deposit(): void {
    if (this.tokens < this.burst) this.tokens += this.ratio;
    if (this.wasteTokens < this.wasteBurst) this.wasteTokens += this.wasteRatio;
  }

  /** Takes the tokens of one hedge; false when either bucket is spent. */
  withdraw(): boolean {
    if (!this.mayHedge) return false;
    this.tokens -= 1;
    this.wasteTokens -= 1;
    return true;
  }

  /** The hedge answered first: it was not waste. */
  won(): void {
    this.wasteTokens = Math.min(this.wasteBurst, this.wasteTokens + 1);
  }

  /** Load tokens left (for tests and the status page). */
  get available(): number {
    return this.tokens;
  }

  /** Waste tokens left (for tests). */
  get wasteAvailable(): number {
    return this.wasteTokens;
  }
}

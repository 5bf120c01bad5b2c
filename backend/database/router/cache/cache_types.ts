/*
 * The types the query cache shares with the router and repositories:
 * what a cached read declares, what a fill reports, the shared tier's
 * guarded surface and the metrics hooks.
 */

/** The shared tier as the cache uses it: a guarded store that never rejects (see guarded_store.ts). */
export interface SharedTier {
  readonly name: string;
  available(): boolean;
  getEntry(key: string): Promise<string | undefined>;
  setEntry(key: string, value: string, ttlMs: number): Promise<boolean>;
  getGenerations(keys: readonly string[]): Promise<number[] | undefined>;
  bumpGenerations(
    keys: readonly string[],
    ttlMs: number,
  ): Promise<number[] | undefined>;
  setFences(
    fences: ReadonlyArray<readonly [string, string]>,
    ttlMs: number,
  ): Promise<boolean>;
  getFences(
    keys: readonly string[],
  ): Promise<(string | undefined)[] | undefined>;
  state(): {
    name: string;
    breaker: string;
    invalidationLost: boolean;
    lastError: string | null;
  };
  close(): Promise<void>;
}

/** What a repository asks of {@link QueryCache.read}. */
export interface CachedRead {
  /** Names the query, e.g. `finance.sum`; chosen by code, never user input. */
  readonly namespace: string;
  /** Everything the result depends on besides the scope (filters, page size, ...); hashed. */
  readonly key: readonly unknown[];
  /** Tables the read selects from: writes to them invalidate the entry. */
  readonly tables: readonly string[];
  /** How long an eventual read may use the entry (ms). */
  readonly ttlMs: number;
  /**
   * The read spans orgs (`orgId` only picks the cluster): any org's write
   * to `tables` invalidates it, not only `orgId`'s.
   */
  readonly allOrgs?: boolean;
}

/** How a read went, for metrics. */
export type CacheOutcome =
  | "hit_memory"
  | "hit_shared"
  | "miss"
  | "bypass_strong"
  | "bypass_off"
  | "bypass_unavailable";

/** Why a fill was not stored. */
export type SkipReason =
  | "too_large"
  | "not_json"
  | "unknown_position"
  | "behind_fence"
  | "shared_unavailable";

/** Hooks for metrics; synchronous and cheap. */
export interface CacheObserver {
  onRead?(endpoint: string, outcome: CacheOutcome, seconds: number): void;
  onSkip?(reason: SkipReason): void;
  onInvalidate?(keys: number, shared: boolean): void;
}

/** What the data of a fill is known to include (see ReadExecutor). */
export class FillPosition {
  /** Lowest WAL floor over the fill's statements. */
  floor: bigint | null = null;
  /** Oldest as-of time over the fill's statements (ms). */
  asOfMs = Infinity;
  /**
   * The WAL position the fill must include to be stored (the highest fence
   * of its scopes): a replica whose last known position is below it is
   * asked for its position first, rather than waiting for the next lag sample.
   */
  required = 0n;
  private statements = 0;
  private unknown = false;

  /** One statement of the fill read data including `floor`, as fresh as `asOfMs`; null = unknown. */
  note(floor: bigint | null, asOfMs: number): void {
    if (floor === null) this.unknown = true;
    else if (this.floor === null || floor < this.floor) this.floor = floor;
    if (asOfMs < this.asOfMs) this.asOfMs = asOfMs;
    this.statements++;
  }

  /** At least one statement ran, and every one knew its position. */
  get known(): boolean {
    return this.statements > 0 && !this.unknown;
  }
}

/** One tier of the cache as the status endpoint shows it. Never a URL or a value. */
export interface CacheTierStatus {
  /** `memory`, `redis` or `encore`. */
  name: string;
  /** `ok`; for a shared tier also `open` / `half_open` (breaker) or `recovering` (lost invalidations). */
  state: string;
  /** In-process tier: entries held, their bytes, and the limit. */
  entries?: number;
  bytes?: number;
  maxBytes?: number;
  /** Shared tier: its breaker and last error (a code or short message). */
  breaker?: string;
  lastError?: string | null;
}

/** The cache as the status endpoint shows it. */
export interface CacheStatus {
  enabled: boolean;
  disabledEndpoints: string[];
  tiers: CacheTierStatus[];
}

import type { CacheConfig } from "../config/config";
import type { Consistency } from "../consistency/consistency";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";
import {
  decodeEntry,
  encodeEntry,
  entryUsable,
  type CacheEntry,
} from "./cache_entry";
import {
  clusterGenKey,
  entryKey,
  readGenKeys,
  writeGenKeys,
  type CacheScope,
} from "./cache_keys";
import {
  FillPosition,
  type CachedRead,
  type CacheObserver,
  type CacheOutcome,
  type CacheStatus,
  type SharedTier,
  type SkipReason,
} from "./cache_types";
import { cacheStatus } from "./cache_status";
import { LocalEntries, type KnownFence } from "./memory_store";
import { ScopeVersions } from "./scope_versions";

/**
 * The query-result cache: an in-process LRU, and optionally a shared tier
 * (Redis, Encore's cache) behind it. Entries carry the WAL position and
 * time their data is known to include, so a read uses one only as its
 * consistency allows (docs/cache.md); writes through the router bump
 * generations of the scopes they change, which every entry of those scopes
 * checks on each use.
 */
export class QueryCache {
  /** Run-time switch of lookups and fills (admin API); CACHE_ENABLED at start. Per instance. */
  enabled: boolean;
  private switchingOn = false;
  private readonly disabledEndpoints: Set<string>;
  private readonly entries: LocalEntries;
  private readonly versions: ScopeVersions;

  constructor(
    private readonly config: CacheConfig,
    private readonly deps: {
      readonly shared: SharedTier | null;
      readonly clock: Clock;
      readonly logger: Logger;
      readonly observer: CacheObserver;
      /** Cluster names, for the epoch keys bumped when the cache is switched on. */
      readonly clusters: () => readonly string[];
      /** The primary's WAL position now, for a fence a fill finds missing; null when unknown. */
      readonly currentLsn: (cluster: string) => Promise<bigint | null>;
    },
  ) {
    this.enabled = config.enabled;
    this.disabledEndpoints = new Set(config.disabledEndpoints);
    this.entries = new LocalEntries(config.maxBytes, () => deps.clock.now());
    this.versions = new ScopeVersions(
      deps.shared,
      deps.currentLsn,
      deps.clusters,
    );
  }

  /**
   * Bumps and fences every cluster's epoch: no entry stored before is used
   * again. After the shared tier reconnects (it may have restored old
   * generations from disk), and when the cache is switched on.
   */
  async resetEpochs(): Promise<void> {
    const epochs = this.deps.clusters().map(clusterGenKey);
    const gens = await this.versions.bump(epochs);
    // Not bumped (shared tier down): the guard bumps them before it serves again.
    if (gens !== undefined) await this.versions.fenceEpochs(epochs, gens);
  }

  /** Sets the fences of epoch keys just bumped (a recovery after lost invalidations). */
  fenceEpochs(keys: readonly string[], gens: readonly number[]): Promise<void> {
    return this.versions.fenceEpochs(keys, gens);
  }

  /**
   * The shared tier reconnected (it may have restarted empty): drop the
   * in-process copies rather than trust them.
   */
  forgetLocal(): void {
    this.entries.clear();
  }

  /** May reads of `endpoint` use the cache? */
  endpointEnabled(endpoint: string): boolean {
    return !this.disabledEndpoints.has(endpoint);
  }

  /** Turns the cache on or off for one endpoint at run time. */
  setEndpoint(endpoint: string, enabled: boolean): void {
    if (enabled) this.disabledEndpoints.delete(endpoint);
    else this.disabledEndpoints.add(endpoint);
  }

  /**
   * Must writes invalidate? Whenever this instance uses the cache (or is
   * switching it on), and always with a shared tier: other instances may
   * use it even while this one does not.
   */
  get invalidating(): boolean {
    return this.enabled || this.switchingOn || this.deps.shared !== null;
  }

  /**
   * Turns the cache on or off at run time. Switching it on forgets every
   * entry held before (the local tier is cleared; the shared tier's epochs
   * are bumped), since writes made while it was off did not invalidate.
   */
  async setEnabled(enabled: boolean): Promise<void> {
    if (enabled && !this.enabled) {
      // Writes invalidate from now on; reads wait until the epochs moved.
      this.switchingOn = true;
      this.entries.clear();
      await this.resetEpochs();
      this.switchingOn = false;
    }
    this.enabled = enabled;
  }

  /**
   * The value of a cacheable read: from the cache when an entry the
   * read's consistency accepts is there, else from `fill` (stored when it
   * may be). `fill` gets a {@link FillPosition} its statements report to.
   */
  async read<T>(
    spec: CachedRead,
    scope: CacheScope,
    consistency: Consistency,
    endpoint: string,
    fill: (position: FillPosition) => Promise<T>,
    /** Called on a hit (the request's `X-Served-By` says `cache`). */
    onHit?: () => void,
  ): Promise<T> {
    if (!(Number.isFinite(spec.ttlMs) && spec.ttlMs >= 1))
      throw new RangeError(
        `cachedRead ${spec.namespace}: ttlMs must be a positive number of milliseconds`,
      );
    const t0 = this.deps.clock.now();
    if (consistency.level === "strong") {
      this.reported(endpoint, t0, "bypass_strong");
      return fill(new FillPosition());
    }
    if (!this.enabled || !this.endpointEnabled(endpoint)) {
      this.reported(endpoint, t0, "bypass_off");
      return fill(new FillPosition());
    }
    const shared = this.deps.shared;
    const genKeys = readGenKeys(scope);
    // The org is always part of the key: one org's entry can never answer another's read.
    const key = entryKey(scope.cluster, spec.namespace, [
      scope.orgId ?? null,
      ...spec.key,
    ]);
    const local = this.entries.get(key);
    // One round trip to the shared tier: generations, and the entry when
    // there is no local copy.
    const [gens, sharedText] =
      shared === null
        ? [await this.versions.read(genKeys), undefined]
        : await Promise.all([
            this.versions.read(genKeys),
            local === undefined ? shared.getEntry(key) : undefined,
          ]);
    if (gens === undefined) {
      this.reported(endpoint, t0, "bypass_unavailable");
      return fill(new FillPosition());
    }
    const hit = await this.lookup(key, gens, consistency, local, sharedText);
    if (hit !== undefined) {
      this.reported(
        endpoint,
        t0,
        hit.tier === "memory" ? "hit_memory" : "hit_shared",
      );
      onHit?.();
      return hit.value as T;
    }
    const fences = await this.versions.required(scope.cluster, genKeys, gens);
    const position = new FillPosition();
    if (fences !== undefined) position.required = fences;
    const value = await fill(position);
    this.reported(endpoint, t0, "miss");
    this.store(key, spec, scope, gens, fences, position, value);
    return value;
  }

  /**
   * Where generations stand before a write is sent; pass it to
   * {@link invalidate} with the position read after the write committed,
   * so that position can fence the new generations at once. Undefined when
   * it cannot serve (with a shared tier).
   */
  writeMark(): number | undefined {
    return this.versions.mark();
  }

  /**
   * Invalidates what a committed write to `tables` (null = unknown) of
   * `orgId` (undefined = unknown) in `cluster` may have changed: bumps the
   * generations. Nothing is sent to the primary: with `known` (the
   * primary's position read with the write, after its commit, and the
   * {@link writeMark} taken before it was sent) the new generations are
   * fenced with it when no other write bumped them meanwhile; otherwise the
   * first fill of each sets its fence from the primary's position then.
   * Either way no fill that read data older than the write is stored under
   * the generations it created. Done when it returns without a shared tier
   * (undefined); else when the promise it returns settles. Never rejects.
   */
  invalidate(
    cluster: string,
    tables: readonly string[] | null,
    orgId: number | undefined,
    known?: KnownFence,
  ): Promise<void> | undefined {
    if (tables !== null && tables.length === 0) return undefined;
    const keys = writeGenKeys(cluster, tables, orgId);
    const shared = this.deps.shared !== null;
    // Lost on the shared tier (undefined): the guard bumps every epoch before it serves again.
    const bumped = this.versions.bump(keys, known);
    if (!(bumped instanceof Promise)) {
      this.deps.observer.onInvalidate?.(keys.length, shared);
      return undefined;
    }
    return bumped.then(() => {
      this.deps.observer.onInvalidate?.(keys.length, shared);
    });
  }

  /** Tells the observer how a cached read went (a method, not a closure per read). */
  private reported(endpoint: string, t0: number, outcome: CacheOutcome): void {
    this.deps.observer.onRead?.(
      endpoint,
      outcome,
      (this.deps.clock.now() - t0) / 1000,
    );
  }

  private skipped(reason: SkipReason): void {
    this.deps.observer.onSkip?.(reason);
  }

  /** For the status endpoint: tiers, their state and size. Never a URL. */
  status(): CacheStatus {
    return cacheStatus(this.enabled, this.disabledEndpoints, {
      entries: this.entries,
      maxBytes: this.config.maxBytes,
      shared: this.deps.shared,
    });
  }

  async close(): Promise<void> {
    await this.deps.shared?.close();
  }

  private async lookup(
    key: string,
    gens: readonly number[],
    consistency: Consistency,
    local: string | undefined,
    prefetched: string | undefined,
  ): Promise<{ value: unknown; tier: "memory" | "shared" } | undefined> {
    const now = this.deps.clock.now();
    if (local !== undefined) {
      const e = decodeEntry(local);
      if (e !== undefined && entryUsable(e, gens, consistency, now))
        return { value: e.v, tier: "memory" };
    }
    const shared = this.deps.shared;
    if (shared === null) return undefined;
    const text = local === undefined ? prefetched : await shared.getEntry(key);
    if (text === undefined || text === local) return undefined;
    const e = decodeEntry(text);
    if (e === undefined || !entryUsable(e, gens, consistency, now))
      return undefined;
    // The local copy never outlives the entry.
    this.entries.set(key, text, Math.min(this.config.localTtlMs, e.x - now));
    return { value: e.v, tier: "shared" };
  }

  /** Stores the fill when it may be: locally at once, in the shared tier in the background. */
  private store(
    key: string,
    spec: CachedRead,
    scope: CacheScope,
    gens: readonly number[],
    fence: bigint | undefined,
    position: FillPosition,
    value: unknown,
  ): void {
    if (!position.known) return this.skipped("unknown_position");
    if (fence === undefined || position.floor! < fence)
      return this.skipped("behind_fence");
    const entry: CacheEntry = {
      v: value,
      g: gens,
      f: position.floor!.toString(),
      a: Number.isFinite(position.asOfMs) ? position.asOfMs : 0,
      c: scope.cluster,
      x: this.deps.clock.now() + Math.round(spec.ttlMs),
    };
    let text: string;
    try {
      text = encodeEntry(entry);
    } catch {
      return this.skipped("not_json");
    }
    if (text.length > this.config.maxEntryBytes)
      return this.skipped("too_large");
    const shared = this.deps.shared;
    if (shared === null) {
      this.entries.set(key, text, spec.ttlMs);
      return;
    }
    this.entries.set(key, text, Math.min(spec.ttlMs, this.config.localTtlMs));
    // Not awaited: the caller has its value; a slow shared tier costs it nothing.
    void shared.setEntry(key, text, Math.round(spec.ttlMs)).then((stored) => {
      if (!stored) this.skipped("shared_unavailable");
    });
  }
}

/**
 * Encore edge: the shared tier of the query cache under Encore, a
 * {@link SharedStore} over `encore.dev/storage/cache`. Encore provisions the
 * cluster declared here: an in-memory Redis stand-in under `encore run` and
 * `encore test`, a Redis per environment on Encore Cloud, and under
 * self-hosting the `redis["query-cache"]` entry of infra.config.json
 * (`encore build docker` refuses a config without it,
 * cli/daemon/export/infra_config.go).
 *
 * Keys: the cache's own key strings (cache_keys.ts) are the `:key` of three
 * keyspaces, so Redis holds `e/<key>` (entries), `f/<key>` (fences) and
 * `g/<key>` (generations), plus the key prefix infra.config.json may set.
 * Encore maps a key by escaping `/` as `\/` and nothing else
 * (encore.dev/storage/cache/keyspace.ts): every `/` after the keyspace's
 * own prefix comes from an escape, so dropping the character before each
 * gives the key back. The mapping is one-to-one, keyspaces never overlap,
 * and any string round-trips, `:`, `/` and `\` included.
 */
import {
  CacheCluster,
  CacheKeyExists,
  IntKeyspace,
  StringKeyspace,
  expireIn,
} from "encore.dev/storage/cache";
import type { SharedStore } from "../router/index";

/**
 * The query cache's Redis. Eviction `volatile-ttl`: every key here has an
 * expiry, and under memory pressure Redis drops the keys nearest to
 * expiring first, i.e. entries (seconds to minutes) long before
 * generations, whose TTL the cache keeps well above every entry's (an
 * evicted generation restarts from the clock, above every value before,
 * so eviction costs misses, not staleness). Redis samples keys, so this ordering is
 * the likely one, not a guarantee; the local stand-in instead deletes
 * keys in sorted order when it holds over 100 (runtimes/core/src/cache/
 * miniredis.rs), and `e/` < `f/` < `g/` puts entries first there too.
 */
const queryCache = new CacheCluster("query-cache", {
  evictionPolicy: "volatile-ttl",
});

/** Entries: `e/<key>` -> an encoded cache entry (JSON), expiry per write. */
export const cacheEntries = new StringKeyspace<string>(queryCache, {
  keyPattern: "e/:key",
});

/** Fences: `f/<key>` -> a WAL position (decimal string), set once, expiry per write. */
export const cacheFences = new StringKeyspace<string>(queryCache, {
  keyPattern: "f/:key",
});

/** Generations: `g/<key>` -> a 64-bit counter, expiry renewed by each bump. */
export const cacheGenerations = new IntKeyspace<string>(queryCache, {
  keyPattern: "g/:key",
});

/** The operations of Encore's keyspaces that {@link EncoreCacheStore} uses. */
export interface EncoreCacheKeyspaces {
  entries: Pick<StringKeyspace<string>, "get" | "set">;
  fences: Pick<StringKeyspace<string>, "multiGet" | "setIfNotExists">;
  generations: Pick<
    IntKeyspace<string>,
    "multiGet" | "increment" | "setIfNotExists"
  >;
}

/** The keyspaces declared above, for `new EncoreCacheStore(...)`. */
export const queryCacheKeyspaces: EncoreCacheKeyspaces = {
  entries: cacheEntries,
  fences: cacheFences,
  generations: cacheGenerations,
};

/**
 * The shared tier on Encore's cache cluster (name `encore`).
 *
 * Round trips: a read of n generations or fences is one `MGET`; a bump is
 * a `SET NX` (a missing key starts from this instance's clock in
 * microseconds) then an atomic `INCRBY` + `PEXPIREAT` per key, and setting fences
 * one `SET NX PX` per fence, sent concurrently over the runtime's pool. A
 * failure of any of them rejects the call, as the contract asks (a bump
 * that rejects may have applied to some keys: the caller counts it as a
 * lost invalidation).
 *
 * The Encore runtime owns the connections and their timeouts; an
 * unconfigured cluster rejects every call at once ("this service is not
 * configured to use this cache cluster", runtimes/core/src/cache/noop.rs).
 */
export class EncoreCacheStore implements SharedStore {
  /** Always `encore`. */
  readonly name = "encore";

  /** @param keyspaces Usually {@link queryCacheKeyspaces}. */
  constructor(private readonly keyspaces: EncoreCacheKeyspaces) {}

  /** `GET e/<key>`; undefined when absent or expired. */
  async getEntry(key: string): Promise<string | undefined> {
    return this.keyspaces.entries.get(key);
  }

  /** `SET e/<key> value PX ttlMs`. @throws RangeError when `ttlMs` is not a positive integer. */
  async setEntry(key: string, value: string, ttlMs: number): Promise<void> {
    assertPositiveInteger("ttlMs", ttlMs);
    await this.keyspaces.entries.set(key, value, {
      expiry: expireIn(ttlMs),
    });
  }

  /** One `MGET`; 0 for a missing key. @throws Error when a key holds something other than an integer. */
  async getGenerations(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    const values = await this.keyspaces.generations.multiGet(...keys);
    return values.map((v) => (v === undefined ? 0 : parseGeneration(v)));
  }

  /**
   * Increments each key and sets its expiry to `ttlMs`, atomically per key,
   * so concurrent bumps from any number of instances never lose one.
   * @throws RangeError when `ttlMs` is not a positive integer.
   */
  async bumpGenerations(
    keys: readonly string[],
    ttlMs: number,
  ): Promise<number[]> {
    assertPositiveInteger("ttlMs", ttlMs);
    const options = { expiry: expireIn(ttlMs) };
    // A key that does not exist starts from the clock in microseconds, not
    // 0, so a cache that restarts empty never repeats a generation an old
    // entry recorded (redis_store.ts does the same in one script).
    const base = Date.now() * 1000;
    const values = await Promise.all(
      keys.map(async (k) => {
        try {
          await this.keyspaces.generations.setIfNotExists(k, base, options);
        } catch (err) {
          if (!(err instanceof CacheKeyExists)) throw err;
        }
        return this.keyspaces.generations.increment(k, 1, options);
      }),
    );
    return values.map(parseGeneration);
  }

  /**
   * `SET f/<key> lsn NX PX ttlMs` per fence: one already set keeps its
   * value (Encore reports that as {@link CacheKeyExists}, not a failure).
   * @throws RangeError when `ttlMs` is not a positive integer.
   */
  async setFences(
    fences: ReadonlyArray<readonly [key: string, lsn: string]>,
    ttlMs: number,
  ): Promise<void> {
    assertPositiveInteger("ttlMs", ttlMs);
    const options = { expiry: expireIn(ttlMs) };
    await Promise.all(
      fences.map(async ([key, lsn]) => {
        try {
          await this.keyspaces.fences.setIfNotExists(key, lsn, options);
        } catch (err) {
          if (!(err instanceof CacheKeyExists)) throw err;
        }
      }),
    );
  }

  /** One `MGET`; undefined where no fence is stored. */
  async getFences(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    return this.keyspaces.fences.multiGet(...keys);
  }

  /** Nothing to release: the Encore runtime owns the connections. Idempotent. */
  async close(): Promise<void> {}
}

function parseGeneration(value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    // The value itself stays out of the message (STYLE 7).
    throw new Error("a generation key holds something other than an integer");
  }
  return value;
}

function assertPositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `${name} must be a positive integer, got ${String(value)}`,
    );
  }
}

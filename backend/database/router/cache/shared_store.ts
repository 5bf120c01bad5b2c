/**
 * The shared tier of the query cache: one store every instance of the
 * service reads and writes (Redis standalone, Encore's cache cluster under
 * Encore). The query cache keeps three kinds of small records in it, under
 * keys it builds itself (never raw user input):
 *
 * - entries: `e:...` -> an encoded cache entry (a JSON string), with a TTL;
 * - generations: `g:...` -> an integer bumped by every write to a scope
 *   (an org's table, a table, a cluster); an entry records the generations
 *   of its scopes when its fill started and is valid only while they are
 *   unchanged;
 * - fences: `f:<scope>:<generation>` -> the primary's WAL position read
 *   after the write that produced that generation (decimal string); a fill
 *   is stored only if the data it read includes every fence of its scopes.
 *
 * Implementations only move bytes: no retries, no timeouts, no breaker (the
 * caller wraps them in {@link GuardedStore}-like logic). Every method may
 * reject; none may hang forever on a dead connection if the client can help
 * it (e.g. ioredis `enableOfflineQueue: false`).
 */
export interface SharedStore {
  /** Short name for metrics and the status endpoint: `redis`, `encore`. */
  readonly name: string;

  /** The entry stored at `key`, or undefined. */
  getEntry(key: string): Promise<string | undefined>;

  /** Stores an entry for `ttlMs` (overwrites). */
  setEntry(key: string, value: string, ttlMs: number): Promise<void>;

  /**
   * Current generation of each key, in order; 0 for a key never bumped (or
   * expired). One round trip where the backend allows (MGET).
   */
  getGenerations(keys: readonly string[]): Promise<number[]>;

  /**
   * Increments each key by one (creating it at 1) and sets its expiry to
   * `ttlMs`; returns the new values in order. Generations must outlive
   * every entry (`ttlMs` well above the longest entry TTL), or an expired
   * generation could restart at a value an old entry recorded.
   */
  bumpGenerations(keys: readonly string[], ttlMs: number): Promise<number[]>;

  /** Stores each fence `[key, lsn]` unless already set, with expiry `ttlMs`. */
  setFences(
    fences: ReadonlyArray<readonly [key: string, lsn: string]>,
    ttlMs: number,
  ): Promise<void>;

  /** The fence at each key, in order; undefined where none is stored. */
  getFences(keys: readonly string[]): Promise<(string | undefined)[]>;

  /**
   * Subscribes to reconnections after a lost connection (optional). The
   * server may have restarted empty, so its generations may restart at 0:
   * the cache then drops its in-process copies, which recorded the old ones.
   * @returns a function that unsubscribes.
   */
  onReconnect?(listener: () => void): () => void;

  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}

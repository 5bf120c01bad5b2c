import { LRUCache } from "lru-cache";

/**
 * The in-process tier's entries: an LRU bounded in bytes (each entry
 * counts its encoded length) with a TTL per entry. Values are stored
 * encoded, so a caller that mutates what it got back cannot change what
 * the next caller gets.
 */
export class LocalEntries {
  private readonly lru: LRUCache<string, string>;

  constructor(maxBytes: number, now: () => number) {
    this.lru = new LRUCache<string, string>({
      maxSize: Math.max(1, maxBytes),
      // A key is ~100 bytes; count it too, so tiny values cannot grow the map unbounded.
      sizeCalculation: (value, key) => value.length + key.length,
      ttlAutopurge: false,
      // Read the clock on every check (the default reuses one reading for
      // 1 ms of real time): expiry follows the injected clock exactly.
      ttlResolution: 0,
      perf: { now },
    });
  }

  get(key: string): string | undefined {
    return this.lru.get(key);
  }

  set(key: string, value: string, ttlMs: number): void {
    this.lru.set(key, value, { ttl: Math.max(1, Math.round(ttlMs)) });
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }
}

interface GenRecord {
  gen: number;
  /** WAL position past every write to the key up to `gen`; null until known. */
  fence: bigint | null;
  /** {@link LocalGenerations} counter when the record last moved to the map's end. */
  moved: number;
}

/**
 * A bumped record moves to the map's end (delete and re-insert, the map's
 * order standing for least recently bumped first) only once it has fallen
 * this many bumps behind: re-inserting on every bump churned the map's
 * backing store (a rehash, and garbage, every few writes to the same
 * keys). The order is then least recently bumped to within that many
 * bumps, which is all eviction needs: forgetting any key is safe (see the
 * class), a recent one only costs more misses.
 */
const MOVE_AFTER = 1_024;

/**
 * A position read after a write committed, usable as the fence of the
 * generations that write creates if no other write bumped them since
 * `mark` ({@link LocalGenerations.mark}, taken before the write was sent).
 */
export interface KnownFence {
  readonly lsn: bigint;
  readonly mark: number;
}

/**
 * Generations and fences when there is no shared tier: one process, one
 * map. Generations come from one counter, so a value is never reused; the
 * map is bounded, and a key it forgot reads as the highest generation ever
 * forgotten, so an entry that recorded an older value can never match
 * again (forgetting only costs misses, never staleness).
 */
export class LocalGenerations {
  private readonly records = new Map<string, GenRecord>();
  private counter = 0;
  private floor = 0;
  /**
   * A position past every write to a forgotten key (what a forgotten key's
   * data must include); null when a key was forgotten before its fence was
   * known, until a fill sets one.
   */
  private floorFence: bigint | null = 0n;

  constructor(private readonly maxKeys = 100_000) {}

  get(keys: readonly string[]): number[] {
    return keys.map((k) => this.records.get(k)?.gen ?? this.floor);
  }

  /**
   * The last generation handed out. Every key whose generation is at or
   * below it now was last bumped before this call.
   */
  get mark(): number {
    return this.counter;
  }

  /** Fences of `keys` at generations `gens` (null where unknown; 0n for a key never bumped). */
  fences(keys: readonly string[], gens: readonly number[]): (bigint | null)[] {
    return keys.map((k, i) => {
      const r = this.records.get(k);
      if (r === undefined)
        return gens[i] === this.floor ? this.floorFence : null;
      return r.gen === gens[i] ? r.fence : null;
    });
  }

  /**
   * Gives each key a new generation. With `known`, a key last bumped at or
   * before `known.mark` gets `known.lsn` as its fence at once: every write
   * that bumped it before committed before the mark was taken, so before the
   * position was read. A key bumped since (by a write whose commit the
   * position may not include) gets none; its first fill sets one.
   */
  bump(keys: readonly string[], known?: KnownFence): number[] {
    const gens = new Array<number>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const r = this.records.get(k);
      const prev = r?.gen ?? this.floor;
      const gen = ++this.counter;
      const fence =
        known !== undefined && prev <= known.mark ? known.lsn : null;
      gens[i] = gen;
      if (r === undefined) {
        this.records.set(k, { gen, fence, moved: gen });
        if (this.records.size > this.maxKeys) this.evictOldest();
        continue;
      }
      r.gen = gen;
      r.fence = fence;
      if (gen - r.moved > MOVE_AFTER) {
        r.moved = gen;
        this.records.delete(k);
        this.records.set(k, r);
      }
    }
    return gens;
  }

  /** Sets the fence of `key` at `gen` unless one is set (any value set is past the writes it covers). */
  setFence(key: string, gen: number, fence: bigint): void {
    const r = this.records.get(key);
    if (r !== undefined) {
      if (r.gen === gen && r.fence === null) r.fence = fence;
    } else if (gen === this.floor && this.floorFence === null) {
      // A fill of a forgotten key read the floor after every forgotten write.
      this.floorFence = fence;
    }
  }

  get size(): number {
    return this.records.size;
  }

  private evictOldest(): void {
    const oldest = this.records.keys().next();
    if (oldest.done === true) return;
    const r = this.records.get(oldest.value)!;
    this.floor = Math.max(this.floor, r.gen);
    // A key forgotten before its fence was known makes the floor's fence
    // unknown: the next fill of a forgotten key sets it.
    if (r.fence === null) this.floorFence = null;
    else if (this.floorFence !== null && r.fence > this.floorFence)
      this.floorFence = r.fence;
    this.records.delete(oldest.value);
  }
}

import type { Consistency } from "../consistency/consistency";

/**
 * `T` when it round-trips through JSON unchanged (interfaces of strings,
 * numbers, booleans, null, arrays and plain objects), else a type no value
 * has: `cachedRead` refuses a Date, a bigint or a function at compile time.
 */
export type JsonSafe<T> = T extends string | number | boolean | null | undefined
  ? T
  : T extends bigint | symbol | Date | ((...args: never[]) => unknown)
    ? never
    : T extends readonly (infer U)[]
      ? readonly JsonSafe<U>[]
      : { [K in keyof T]: JsonSafe<T[K]> };

/**
 * One cached read, as stored (JSON): the value and what it is known to
 * include, so each consistency level can decide whether it may use it.
 */
export interface CacheEntry {
  /** The value the fill returned (JSON-safe, see {@link JsonSafe}). */
  readonly v: unknown;
  /** Generations of the entry's scopes when its fill started, in key order. */
  readonly g: readonly number[];
  /**
   * A WAL position the data includes everything before (decimal): the
   * serving replica's replay LSN known before the read, or the primary's
   * LSN sampled before it, minus one.
   */
  readonly f: string;
  /** The data is at least as fresh as this time (ms since the epoch). */
  readonly a: number;
  /** Cluster the data came from. */
  readonly c: string;
  /** When it expires for eventual reads (ms since the epoch): fill time + TTL. */
  readonly x: number;
}

/** Encodes an entry; the length of the result is what the size limit measures. */
export function encodeEntry(entry: CacheEntry): string {
  return JSON.stringify(entry);
}

/** Decodes an entry, or undefined when the text is not one (corrupt, or another version). */
export function decodeEntry(text: string): CacheEntry | undefined {
  try {
    const e = JSON.parse(text) as Partial<CacheEntry> | null;
    if (
      e === null ||
      typeof e !== "object" ||
      !("v" in e) ||
      !Array.isArray(e.g) ||
      !e.g.every((n) => Number.isSafeInteger(n)) ||
      typeof e.f !== "string" ||
      !/^\d{1,20}$/.test(e.f) ||
      typeof e.a !== "number" ||
      typeof e.c !== "string" ||
      typeof e.x !== "number"
    )
      return undefined;
    return e as CacheEntry;
  } catch {
    return undefined;
  }
}

/**
 * May a read of `consistency` use `entry`, given its scopes' current
 * generations? Never for `strong`; for a token, only when the entry's data
 * includes the token's position; for `bounded`, only when the data is
 * within the bound; for `eventual`, whenever no write to its scopes came
 * after it (the TTL bounds the rest).
 */
export function entryUsable(
  entry: CacheEntry,
  generations: readonly number[],
  consistency: Consistency,
  nowMs: number,
): boolean {
  if (nowMs >= entry.x || entry.g.length !== generations.length) return false;
  for (let i = 0; i < generations.length; i++)
    if (entry.g[i] !== generations[i]) return false;
  switch (consistency.level) {
    case "strong":
      return false;
    case "eventual":
      return true;
    case "bounded":
      // A byte bound needs the primary's position now, which the cache
      // does not know: such reads do not use it.
      if (consistency.maxLagBytes !== undefined) return false;
      return (
        consistency.maxLagSeconds === undefined ||
        nowMs - entry.a <= consistency.maxLagSeconds * 1000
      );
    case "read_your_writes":
      return (
        consistency.token.cluster === entry.c &&
        BigInt(entry.f) >= consistency.token.lsn
      );
  }
}

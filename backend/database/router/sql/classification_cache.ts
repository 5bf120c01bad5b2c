import { classifySql, type SqlClassification } from "./sql_classifier";

/** Most verdicts {@link classifySqlCached} keeps; the oldest goes first. */
export const SQL_CLASSIFIER_CACHE_MAX_ENTRIES = 1000;
// Longer texts are usually one-off bulk statements; caching them would pin megabytes.
const MAX_CACHED_SQL_CHARS = 16_384;
const cache = new Map<string, SqlClassification>();

/**
 * {@link classifySql} memoised for the router's hot path: the same text gets
 * the same (frozen) verdict object. Bounded to
 * {@link SQL_CLASSIFIER_CACHE_MAX_ENTRIES} entries, evicting in insertion
 * order; texts over 16,384 characters are classified but not cached.
 */
export function classifySqlCached(sql: string): SqlClassification {
  let verdict = cache.get(sql);
  if (verdict === undefined) {
    verdict = classifySql(sql);
    if (sql.length <= MAX_CACHED_SQL_CHARS) {
      if (cache.size >= SQL_CLASSIFIER_CACHE_MAX_ENTRIES) {
        const oldest = cache.keys().next();
        if (oldest.done !== true) cache.delete(oldest.value);
      }
      cache.set(sql, verdict);
    }
  }
  return verdict;
}

/** Number of verdicts {@link classifySqlCached} holds (for tests and metrics). */
export function classifierCacheSize(): number {
  return cache.size;
}

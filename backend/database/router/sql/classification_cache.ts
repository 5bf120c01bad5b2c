import {
  classifyTokens,
  unparseable,
  type SqlClassification,
} from "./sql_classifier";
import { tokenizeSql } from "./sql_tokenizer";
import { SqlTokenizeError, type SqlToken } from "./sql_tokens";
import { statementWrites, type StatementWrites } from "./statement_writes";

/**
 * Everything the router makes of one SQL text, from one tokenizer pass:
 * whether a replica may run it (`verdict`, for the raw-SQL gate) and what
 * it writes (`writes`, for the query cache's invalidation).
 */
export interface SqlAnalysis {
  readonly verdict: SqlClassification;
  readonly writes: StatementWrites;
}

/** Most analyses {@link analyzeSqlCached} keeps; the oldest goes first. */
export const SQL_CLASSIFIER_CACHE_MAX_ENTRIES = 1000;
// Longer texts are usually one-off bulk statements; caching them would pin megabytes.
const MAX_CACHED_SQL_CHARS = 16_384;
const cache = new Map<string, SqlAnalysis>();

/** {@link SqlAnalysis} of `sql`: one tokenizer pass, then the classifier and the write scan. */
export function analyzeSql(sql: string): SqlAnalysis {
  let tokens: SqlToken[];
  try {
    tokens = tokenizeSql(sql);
  } catch (err) {
    if (!(err instanceof SqlTokenizeError)) throw err;
    return Object.freeze({
      verdict: unparseable(err),
      writes: statementWrites(null),
    });
  }
  return Object.freeze({
    verdict: classifyTokens(tokens),
    writes: statementWrites(tokens),
  });
}

/**
 * {@link analyzeSql} memoised for the router's hot path: the same text gets
 * the same (frozen) analysis. Bounded to
 * {@link SQL_CLASSIFIER_CACHE_MAX_ENTRIES} entries, evicting in insertion
 * order; texts over 16,384 characters are analysed but not cached.
 */
export function analyzeSqlCached(sql: string): SqlAnalysis {
  let analysis = cache.get(sql);
  if (analysis === undefined) {
    analysis = analyzeSql(sql);
    if (sql.length <= MAX_CACHED_SQL_CHARS) {
      if (cache.size >= SQL_CLASSIFIER_CACHE_MAX_ENTRIES) {
        const oldest = cache.keys().next();
        if (oldest.done !== true) cache.delete(oldest.value);
      }
      cache.set(sql, analysis);
    }
  }
  return analysis;
}

/** The classifier's verdict on `sql`, from {@link analyzeSqlCached}. */
export function classifySqlCached(sql: string): SqlClassification {
  return analyzeSqlCached(sql).verdict;
}

/** Number of analyses {@link analyzeSqlCached} holds (for tests and metrics). */
export function classifierCacheSize(): number {
  return cache.size;
}

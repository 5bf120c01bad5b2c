import { SqlTokenizeError, tokenizeSql, type SqlToken } from "./sql_tokenizer";

/** The verdict on one SQL text. */
export type SqlClassification =
  | { readonly readOnly: true; readonly functions: readonly string[] }
  | { readonly readOnly: false; readonly reason: string };

const READ_STARTS = new Set(["select", "with", "values", "table", "show"]);
const MODIFYING = new Set(["insert", "update", "delete", "merge"]);
// Words followed by "(" that are syntax, not function calls.
const NOT_FUNCTIONS = new Set([
  "select", "from", "where", "in", "exists", "any", "some", "all", "values", "as", "on", "using", "and", "or",
  "not", "case", "when", "then", "else", "over", "filter", "within", "cast", "row", "array", "lateral", "join",
  "group", "order", "by", "partition", "window", "rows", "range", "groups", "distinct", "limit", "offset",
  "fetch", "returning", "table", "with", "recursive", "union", "intersect", "except", "into", "set", "for",
  "is", "like", "ilike", "similar", "between", "numeric", "decimal", "varchar", "char", "character", "timestamp",
  "time", "interval", "bit", "float", "int", "integer", "bigint", "smallint", "real", "boolean", "only", "of",
]);
// Built-in functions that write, take locks, assign transaction ids or change session or server state.
const WRITING_FUNCTIONS = new Set([
  "nextval", "setval", "set_config", "setseed", "txid_current", "pg_current_xact_id", "pg_notify", "dblink_exec",
  "lo_create", "lo_creat", "lo_import", "lo_unlink", "lo_put", "lo_from_bytea", "lowrite", "lo_open", "lo_truncate",
  "lo_truncate64", "lo_export", "pg_switch_wal", "pg_create_restore_point", "pg_terminate_backend",
  "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile", "pg_promote", "pg_wal_replay_pause",
  "pg_wal_replay_resume", "pg_drop_replication_slot", "pg_replication_origin_create", "pg_log_backend_memory_contexts",
  "pg_import_system_collations", "pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup",
  "pg_logical_emit_message", "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot",
]);
const WRITING_PATTERN = /^pg_(try_)?advisory.*lock|^pg_stat_reset|^pg_create_.*_replication_slot|^pg_replication_origin_/;

/**
 * Decides whether SQL is provably read-only, so it may run on a replica.
 * Conservative by construction: one statement starting with SELECT, WITH,
 * VALUES, TABLE, SHOW, EXPLAIN (without ANALYZE of a write) or COPY ... TO,
 * with no data-modifying word, no locking clause, no SELECT INTO, and no
 * call to a function known to write. Anything else, including SQL that
 * cannot be tokenized, is a write. `functions` lists every function called,
 * so the router can also refuse user functions the database marks VOLATILE.
 */
export function classifySql(sql: string): SqlClassification {
  let tokens: SqlToken[];
  try {
    tokens = tokenizeSql(sql);
  } catch (err) {
    if (err instanceof SqlTokenizeError) return write(`unparseable: ${err.message}`);
    throw err;
  }
  while (tokens.length > 0 && tokens[tokens.length - 1]!.text === ";" && tokens[tokens.length - 1]!.kind === "punct") {
    tokens.pop();
  }
  if (tokens.length === 0) return write("empty statement");
  if (tokens.some((t) => t.kind === "punct" && t.text === ";")) return write("multiple statements");
  return classifyStatement(tokens);
}

function classifyStatement(tokens: readonly SqlToken[]): SqlClassification {
  let start = 0;
  while (tokens[start]?.kind === "punct" && tokens[start]!.text === "(") start++;
  const first = tokens[start];
  if (first === undefined || first.kind !== "word") return write("does not start with a keyword");
  if (first.text === "explain") return classifyExplain(tokens, start + 1);
  if (first.text === "copy") {
    return hasWordAtDepth0(tokens, "from") ? write("COPY ... FROM") : classifyBody(tokens);
  }
  if (!READ_STARTS.has(first.text)) return write(first.text.toUpperCase());
  return classifyBody(tokens);
}

function classifyExplain(tokens: readonly SqlToken[], at: number): SqlClassification {
  let i = at;
  let analyze = false;
  if (tokens[i]?.text === "(") {
    // EXPLAIN (ANALYZE [true|on|1], BUFFERS, ...) statement
    let depth = 0;
    for (; i < tokens.length; i++) {
      const t = tokens[i]!;
      if (t.text === "(") depth++;
      else if (t.text === ")") {
        depth--;
        if (depth === 0) {
          i++;
          break;
        }
      } else if (t.kind === "word" && (t.text === "analyze" || t.text === "analyse")) {
        const next = tokens[i + 1]?.text;
        analyze = !(next === "false" || next === "off" || next === "0");
      }
    }
  } else {
    while (tokens[i]?.kind === "word" && ["analyze", "analyse", "verbose"].includes(tokens[i]!.text)) {
      if (tokens[i]!.text !== "verbose") analyze = true;
      i++;
    }
  }
  const inner = tokens.slice(i);
  if (inner.length === 0) return write("EXPLAIN without a statement");
  const verdict = classifyStatement(inner);
  // Without ANALYZE nothing executes; with it, the statement runs for real.
  if (!analyze) return { readOnly: true, functions: verdict.readOnly ? verdict.functions : [] };
  return verdict.readOnly ? verdict : write(`EXPLAIN ANALYZE of a write (${verdict.reason})`);
}

function classifyBody(tokens: readonly SqlToken[]): SqlClassification {
  const functions = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === "word") {
      if (t.text === "for") {
        const a = tokens[i + 1]?.text;
        const b = tokens[i + 2]?.text;
        const c = tokens[i + 3]?.text;
        if (a === "update" || a === "share" || (a === "no" && b === "key" && c === "update") || (a === "key" && b === "share")) {
          return write("SELECT ... FOR UPDATE/SHARE (row locks)");
        }
      }
      if (MODIFYING.has(t.text)) return write(`data-modifying ${t.text.toUpperCase()}`);
      if (t.text === "into") return write("SELECT ... INTO");
    }
    if ((t.kind === "word" || t.kind === "quoted_ident") && tokens[i + 1]?.text === "(" && tokens[i + 1]!.kind === "punct") {
      if (t.kind === "word" && NOT_FUNCTIONS.has(t.text)) continue;
      const name = t.kind === "word" ? t.text : t.text.toLowerCase();
      const prev = tokens[i - 1];
      const schema = prev?.text === "." && prev.kind === "punct" ? tokens[i - 2] : undefined;
      if (WRITING_FUNCTIONS.has(name) || WRITING_PATTERN.test(name)) return write(`${name}() changes state`);
      functions.add(name);
      if (schema !== undefined) functions.add(`${schema.text.toLowerCase()}.${name}`);
    }
  }
  return { readOnly: true, functions: [...functions] };
}

function hasWordAtDepth0(tokens: readonly SqlToken[], word: string): boolean {
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === "punct" && t.text === "(") depth++;
    else if (t.kind === "punct" && t.text === ")") depth--;
    else if (depth === 0 && t.kind === "word" && t.text === word) return true;
  }
  return false;
}

function write(reason: string): SqlClassification {
  return { readOnly: false, reason };
}

const MAX_CACHED = 1000;
const cache = new Map<string, SqlClassification>();

/**
 * {@link classifySql} memoised for the hot path (bounded: the oldest entry
 * goes when 1,000 are held; SQL longer than 10,000 characters is not cached).
 */
export function classifySqlCached(sql: string): SqlClassification {
  let verdict = cache.get(sql);
  if (verdict === undefined) {
    verdict = classifySql(sql);
    if (sql.length <= 10_000) {
      if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
      cache.set(sql, verdict);
    }
  }
  return verdict;
}

/** Number of cached verdicts (for tests). */
export function classifierCacheSize(): number {
  return cache.size;
}

import { classifySqlCached } from "../sql/classification_cache";
import { tokenizeSql } from "../sql/sql_tokenizer";
import type { SqlToken } from "../sql/sql_tokens";

/** What {@link writeTargets} asks of the raw-SQL gate. */
export interface WriteGate {
  /** Proven read-only: classifier, refusals, and no VOLATILE user function. */
  provablyReadOnly(sql: string): boolean;
  /** May a call to one of `functions` (bare, lower-case) write? True while unknown. */
  mayCallWritingFunction(functions: readonly string[]): boolean;
  /** Did a standby refuse exactly this text as a write? */
  refusedOnStandby(sql: string): boolean;
}

/**
 * The tables a statement may change, for cache invalidation: `[]` for a
 * statement proven read-only (or a SELECT that only locks rows and calls
 * no function), the target tables of INSERT / UPDATE / DELETE / MERGE /
 * TRUNCATE / COPY ... FROM (data-modifying CTEs and EXPLAIN ANALYZE
 * included), and null when they cannot be told (DDL, a function that may
 * write, SQL that does not parse): then the caller invalidates the whole
 * cluster.
 *
 * Writes a statement causes elsewhere (triggers, rules, functions) are not
 * seen: a repository whose tables change that way declares them on its
 * cached reads' scopes (see docs/cache.md).
 */
export function writeTargets(
  sql: string,
  gate: WriteGate,
): readonly string[] | null {
  if (gate.provablyReadOnly(sql)) return NONE;
  const found = scanCached(sql);
  if (found.kind === "unknown") return null;
  if (found.kind === "session") return NONE;
  const { tables, locks, calls } = found;
  // A function that may write can write anywhere (pg_advisory_xact_lock,
  // set_config or to_char cannot: they are not VOLATILE user functions).
  if (calls.length > 0 && gate.mayCallWritingFunction(calls)) return null;
  if (tables.length > 0) return tables;
  // Not provably read-only, yet no target found. A standby refused it as a
  // write (a view calling a writing function...): unknown.
  if (gate.refusedOnStandby(sql)) return null;
  const c = classifySqlCached(sql);
  // Read-only as written: unknown only if a call may write.
  if (c.readOnly)
    return c.functions.length > 0 && gate.mayCallWritingFunction(c.functions)
      ? null
      : NONE;
  // Only a locking clause, or a built-in that acts on the primary's own
  // state (advisory locks, settings, sequences), kept it off replicas.
  if (locks && c.reason.startsWith("SELECT ... FOR ")) return NONE;
  if (/^[a-z_][a-z0-9_.]*\(\)$/.test(c.reason)) return NONE;
  // A write the scan above did not place (a data-modifying statement in an
  // unusual position, SELECT INTO, ...): unknown.
  return null;
}

/** What the text of a statement says about its writes, before the gate's (changing) verdicts. */
type Scan =
  | { readonly kind: "unknown" }
  | { readonly kind: "session" }
  | {
      readonly kind: "data";
      readonly tables: readonly string[];
      readonly locks: boolean;
      readonly calls: readonly string[];
    };

const UNKNOWN: Scan = Object.freeze({ kind: "unknown" });
const SESSION: Scan = Object.freeze({ kind: "session" });

/** Scans of recent texts: a write path runs the same few statements again and again. */
const scans = new Map<string, Scan>();
const SCANS_MAX = 1_000;
const SCAN_MAX_CHARS = 16_384;

function scanCached(sql: string): Scan {
  let found = scans.get(sql);
  if (found === undefined) {
    found = scan(sql);
    if (sql.length <= SCAN_MAX_CHARS) {
      if (scans.size >= SCANS_MAX) scans.delete(scans.keys().next().value!);
      scans.set(sql, found);
    }
  }
  return found;
}

function scan(sql: string): Scan {
  let t: SqlToken[];
  try {
    t = tokenizeSql(sql);
  } catch {
    return UNKNOWN;
  }
  let start = 0;
  while (t[start]?.text === "(") start++;
  const head = word(t[start]) ?? "";
  // Session and transaction control change no table (COMMIT PREPARED
  // makes a prepared transaction's writes visible: unknown).
  if (
    SESSION_HEADS.has(head) &&
    !t.some((x) => x.text === ";" || word(x) === "prepared")
  )
    return SESSION;
  // Only data statements name their targets; DDL, CALL, DO, ... do not.
  if (!STATEMENT_HEADS.has(head)) return UNKNOWN;
  const tables = new Set<string>();
  let locks = false;
  const calls: string[] = [];
  for (let i = start; i < t.length; i++) {
    const w = word(t[i]);
    if (w === undefined) {
      if (t[i]!.kind === "quoted_ident" && t[i + 1]?.text === "(")
        calls.push(t[i]!.text.toLowerCase());
      // A further statement must be a data statement too.
      if (t[i]!.text === ";") {
        let k = i + 1;
        while (t[k]?.text === "(") k++;
        if (t[k] !== undefined && !STATEMENT_HEADS.has(word(t[k]) ?? ""))
          return UNKNOWN;
      }
      continue;
    }
    if (t[i + 1]?.text === "(" && !SYNTAX_BEFORE_PAREN.has(w)) calls.push(w);
    if (w === "for" && LOCK_WORDS.has(word(t[i + 1]) ?? "")) {
      locks = true;
      continue;
    }
    // A write keyword starts a statement only at the start, after `(` (a
    // CTE body) or `)` (the main statement after CTEs, EXPLAIN options), or
    // after EXPLAIN ANALYZE [VERBOSE]: `ON UPDATE CASCADE`, `FOR UPDATE`,
    // `DO UPDATE SET`, `THEN UPDATE SET` are not targets.
    const prev = t[i - 1];
    const atHead =
      i === start ||
      prev?.text === "(" ||
      prev?.text === ")" ||
      prev?.text === ";" ||
      (prev?.kind === "word" && AFTER_EXPLAIN.has(prev.text));
    if (!atHead || !WRITE_HEADS.has(w)) continue;
    if (w === "truncate") {
      // TRUNCATE [TABLE] [ONLY] a [*], b, ...
      let j = i + 1;
      if (word(t[j]) === "table") j++;
      for (;;) {
        const name = tableAt(t, j);
        if (name === undefined) return UNKNOWN;
        tables.add(name);
        j = skipName(t, j);
        if (t[j]?.text === "*") j++;
        if (t[j]?.text !== ",") break;
        j++;
      }
      continue;
    }
    let name: string | undefined;
    if (w === "insert" || w === "merge")
      name = word(t[i + 1]) === "into" ? tableAt(t, i + 2) : undefined;
    else if (w === "delete")
      name = word(t[i + 1]) === "from" ? tableAt(t, i + 2) : undefined;
    else if (w === "update") name = tableAt(t, i + 1);
    else if (w === "copy") {
      // COPY (query) TO: the classifier judged the query; COPY t TO only reads.
      if (t[i + 1]?.text === "(") continue;
      name = tableAt(t, i + 1);
      if (name !== undefined && !t.some((x, k) => k > i && word(x) === "from"))
        continue;
    }
    if (name === undefined) return UNKNOWN;
    tables.add(name);
  }
  return Object.freeze({
    kind: "data",
    tables: Object.freeze([...tables]),
    locks,
    calls: Object.freeze(calls),
  });
}

const NONE: readonly string[] = Object.freeze([]);
const STATEMENT_HEADS = new Set([
  "select",
  "with",
  "values",
  "table",
  "insert",
  "update",
  "delete",
  "merge",
  "truncate",
  "copy",
  "explain",
]);
const SESSION_HEADS = new Set([
  "set",
  "reset",
  "show",
  "begin",
  "start",
  "commit",
  "end",
  "rollback",
  "abort",
  "savepoint",
  "release",
  "listen",
  "unlisten",
  "discard",
]);
const WRITE_HEADS = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "truncate",
  "copy",
]);
const AFTER_EXPLAIN = new Set(["explain", "analyze", "analyse", "verbose"]);
const LOCK_WORDS = new Set(["update", "share", "no", "key"]);
/** Words followed by `(` that are syntax, not a function call. */
const SYNTAX_BEFORE_PAREN = new Set([
  "in",
  "exists",
  "values",
  "as",
  "any",
  "all",
  "some",
  "using",
  "on",
  "and",
  "or",
  "not",
  "from",
  "join",
  "where",
  "select",
  "with",
  "into",
  "over",
  "filter",
  "within",
  "by",
  "set",
  "row",
  "array",
  "lateral",
  "recursive",
  "table",
  "explain",
]);

function word(t: SqlToken | undefined): string | undefined {
  return t?.kind === "word" ? t.text : undefined;
}

/** The (last part of the) table name starting at `j`, after ONLY; undefined when none is there. */
function tableAt(t: readonly SqlToken[], j: number): string | undefined {
  while (word(t[j]) === "only") j++;
  let name: string | undefined;
  for (;;) {
    const tok = t[j];
    if (
      tok === undefined ||
      (tok.kind !== "word" && tok.kind !== "quoted_ident")
    )
      return name;
    name = tok.text.toLowerCase();
    if (t[j + 1]?.text !== ".") return name;
    j += 2;
  }
}

/** Index after the (possibly qualified) name at `j` (after ONLY). */
function skipName(t: readonly SqlToken[], j: number): number {
  while (word(t[j]) === "only") j++;
  j++;
  while (t[j]?.text === "." && t[j + 1] !== undefined) j += 2;
  return j;
}

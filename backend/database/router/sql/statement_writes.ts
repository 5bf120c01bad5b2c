import type { SqlToken } from "./sql_tokens";

/** What the text of a statement says about its writes, before the gate's (changing) verdicts. */
export type StatementWrites =
  | { readonly kind: "unknown" }
  | { readonly kind: "session" }
  | {
      readonly kind: "data";
      readonly tables: readonly string[];
      readonly locks: boolean;
      readonly calls: readonly string[];
    };

const UNKNOWN: StatementWrites = Object.freeze({ kind: "unknown" });
const SESSION: StatementWrites = Object.freeze({ kind: "session" });

/**
 * What a statement's text says it writes, from its tokens (null: the text
 * did not tokenize): its target tables, whether it locks rows, the
 * functions it calls; or that it is session control (no table), or that
 * its targets cannot be told (DDL, CALL, DO, ...).
 */
export function statementWrites(
  t: readonly SqlToken[] | null,
): StatementWrites {
  if (t === null) return UNKNOWN;
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

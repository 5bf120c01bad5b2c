import { mustRunOnPrimary } from "./primary_only_functions";
import { NEVER_CALLED_KEYWORDS } from "./sql_keywords";
import { tokenizeSql } from "./sql_tokenizer";
import { SqlTokenizeError, type SqlToken } from "./sql_tokens";

/**
 * The verdict on one SQL text. Read-only verdicts list every function the
 * statement calls (lower-case; schema-qualified calls appear both as
 * `schema.name` and as `name`) so the router can refuse user functions the
 * database marks VOLATILE. Verdicts are frozen: the cache shares them.
 */
export type SqlClassification =
  | { readonly readOnly: true; readonly functions: readonly string[] }
  | {
      readonly readOnly: false;
      /**
       * `locking`: a query whose only write is a locking clause (SELECT ...
       * FOR UPDATE); `primary_state`: a query whose only write is a
       * built-in that acts on the primary's own state (advisory locks,
       * settings, sequences); `write`: anything else.
       */
      readonly kind: WriteKind;
      /** Short and human-readable, for logs; never parsed. */
      readonly reason: string;
    };

/** Why a statement is not read-only (see {@link SqlClassification}). */
export type WriteKind = "locking" | "primary_state" | "write";

const QUERY_HEADS = new Set(["select", "with", "values", "table"]);
// Statements EXPLAIN accepts that need no session state (EXECUTE needs a
// prepared statement, which lives only on the primary connection).
const EXPLAINABLE = new Set([
  "select",
  "with",
  "values",
  "table",
  "insert",
  "update",
  "delete",
  "merge",
]);
const MODIFYING = new Set(["insert", "update", "delete", "merge"]);
/**
 * Decides whether one SQL text is provably read-only, so a streaming replica
 * may run it. Pure, no I/O, one tokenizer pass plus one token scan.
 *
 * Read-only only when the text is exactly one statement (a trailing `;` is
 * fine) that is a query (`SELECT`, `WITH`, `VALUES`, `TABLE`, `(SELECT ..)`),
 * `SHOW`, `EXPLAIN` without ANALYZE of an explainable statement, `EXPLAIN
 * ANALYZE` of a read-only one, or `COPY table|(query) TO STDOUT`; and the
 * statement has no `insert`/`update`/`delete`/`merge` word (data-modifying
 * CTEs, and conservatively columns named like them), no locking clause, no
 * `INTO`, and no call to a built-in on the deny-list. Anything else, including
 * SQL the tokenizer rejects, is a write with a short reason.
 *
 * Every word followed by `(` that could call a function is listed, even
 * one that is also syntax (`set(`, `filter(`, `rows(`, `like(`): only
 * reserved and column-name keywords, and a few unmistakable contexts
 * (`) OVER (`, `GROUP BY (`, `AS t(a, b)`), are left out. `current_schema`
 * is listed with or without parentheses: with `pg_temp` first on the
 * search path it creates the session's temporary schema, which a standby
 * refuses.
 *
 * Not seen, by design: functions reached without a `name(` call (views,
 * triggers, operators, casts). A standby refuses their writes (25006, or a
 * recovery refusal; see `classifyPgError`) and the router retries on the
 * primary.
 */
export function classifySql(sql: string): SqlClassification {
  let tokens: SqlToken[];
  try {
    tokens = tokenizeSql(sql);
  } catch (err) {
    if (err instanceof SqlTokenizeError) return unparseable(err);
    throw err;
  }
  return classifyTokens(tokens);
}

/** The verdict on SQL the tokenizer refused. */
export function unparseable(err: SqlTokenizeError): SqlClassification {
  return write(`unparseable: ${err.reason}`);
}

/** {@link classifySql} of text already tokenized. */
export function classifyTokens(tokens: readonly SqlToken[]): SqlClassification {
  let statement: readonly SqlToken[] | undefined;
  let start = 0;
  for (let i = 0; i <= tokens.length; i++) {
    if (i < tokens.length && !isPunct(tokens[i], ";")) continue;
    if (i > start) {
      // Even two reads: the caller expects one result, and extended protocol refuses two.
      if (statement !== undefined) return write("multiple statements");
      statement = tokens.slice(start, i);
    }
    start = i + 1;
  }
  return statement === undefined
    ? write("empty statement")
    : classifyStatement(statement);
}

/** Classifies one statement's tokens (non-empty, no `;`). */
function classifyStatement(t: readonly SqlToken[]): SqlClassification {
  const first = t[0];
  if (isPunct(first, "(")) return classifyQuery(t);
  if (first?.kind !== "word") return write("unknown statement");
  if (QUERY_HEADS.has(first.text)) return classifyQuery(t);
  if (first.text === "show") return read([]);
  if (first.text === "explain") return classifyExplain(t);
  if (first.text === "copy") return classifyCopy(t);
  return write(first.text.toUpperCase()); // INSERT, SET, BEGIN, CREATE, CALL, DO, LOCK...
}

/** A query: scans every token, subqueries included, for writes, locks and calls. */
function classifyQuery(t: readonly SqlToken[]): SqlClassification {
  let k = 0;
  while (isPunct(t[k], "(")) k++;
  const head = t[k];
  if (head?.kind !== "word" || !QUERY_HEADS.has(head.text))
    return write("unknown statement");
  const functions = new Set<string>();
  for (let i = k; i < t.length; i++) {
    const tok = t[i]!;
    if (tok.kind === "word") {
      const w = tok.text;
      if (w === "for") {
        const lock = lockingClause(t, i + 1);
        if (lock !== undefined)
          return write(`SELECT ... FOR ${lock}`, "locking");
      } else if (MODIFYING.has(w)) {
        return write(`data-modifying ${w.toUpperCase()}`);
      } else if (w === "into") {
        // SELECT INTO creates a table; INTO appears in no read-only query.
        return write("SELECT ... INTO");
      } else if (w === "uescape") {
        // Changes how U&"..." decodes, so a function name could be misread.
        return write("unparseable: UESCAPE");
      } else if (w === "current_schema" && !isPunct(t[i - 1], ".")) {
        // SQL also spells the call without parentheses.
        functions.add(w);
      }
    }
    if (
      (tok.kind === "word" || tok.kind === "quoted_ident") &&
      isPunct(t[i + 1], "(")
    ) {
      const denied = recordCall(t, i, functions);
      if (denied !== undefined) return write(`${denied}()`, "primary_state");
    }
  }
  return read([...functions]);
}

/** "UPDATE", "NO KEY UPDATE", "SHARE" or "KEY SHARE" when the words at `j` follow FOR as a locking clause. */
function lockingClause(t: readonly SqlToken[], j: number): string | undefined {
  if (isWord(t[j], "update")) return "UPDATE";
  if (isWord(t[j], "share")) return "SHARE";
  if (
    isWord(t[j], "no") &&
    isWord(t[j + 1], "key") &&
    isWord(t[j + 2], "update")
  )
    return "NO KEY UPDATE";
  if (isWord(t[j], "key") && isWord(t[j + 1], "share")) return "KEY SHARE";
  return undefined; // FOR READ ONLY, substring(x FROM 1 FOR 2), ...
}

/**
 * Adds the call at `i` (a name followed by `(`) to `functions`, both
 * qualified and bare; returns the bare name when it is on the deny-list.
 */
function recordCall(
  t: readonly SqlToken[],
  i: number,
  functions: Set<string>,
): string | undefined {
  const tok = t[i]!;
  const prev = t[i - 1];
  const schema = isPunct(prev, ".") ? t[i - 2] : undefined;
  const qualified =
    schema !== undefined &&
    (schema.kind === "word" || schema.kind === "quoted_ident");
  if (!qualified) {
    if (tok.kind === "word" && isSyntaxBeforeParen(tok.text, prev))
      return undefined;
    // `AS g(a, b)` and `WITH c(a) AS` name columns; nothing is called.
    if (
      prev?.kind === "word" &&
      (prev.text === "as" || prev.text === "with" || prev.text === "recursive")
    ) {
      return undefined;
    }
  }
  // Quoted names are case-sensitive in PostgreSQL; folding them too can only add matches, which is the safe side.
  const name = tok.kind === "word" ? tok.text : tok.text.toLowerCase();
  if (qualified)
    functions.add(
      `${schema.kind === "word" ? schema.text : schema.text.toLowerCase()}.${name}`,
    );
  functions.add(name);
  return mustRunOnPrimary(name) ? name : undefined;
}

// Unreserved keywords that are syntax, not a call, after these words.
const SYNTAX_AFTER: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ["by", new Set(["group", "order", "partition"])], // GROUP BY (a, b)
  ["sets", new Set(["grouping"])], // GROUPING SETS (...)
  ["materialized", new Set(["not"])], // AS NOT MATERIALIZED (...)
  ["varying", new Set(["character", "char", "nchar", "bit"])], // character varying(20)
]);

/**
 * True when the unqualified `word` before `(` cannot be a function call:
 * a reserved or column-name keyword, `) OVER (` and `) FILTER (` after a
 * call, or an unreserved keyword in one of the contexts of SYNTAX_AFTER.
 * Anything else is reported; a wrong "maybe a call" costs one catalog lookup.
 */
function isSyntaxBeforeParen(
  word: string,
  prev: SqlToken | undefined,
): boolean {
  if (NEVER_CALLED_KEYWORDS.has(word)) return true;
  if (word === "over" || word === "filter") return isPunct(prev, ")");
  const after = SYNTAX_AFTER.get(word);
  return after !== undefined && prev?.kind === "word" && after.has(prev.text);
}

/** EXPLAIN plans without executing unless ANALYZE is on; then the statement runs for real. */
function classifyExplain(t: readonly SqlToken[]): SqlClassification {
  let i = 1;
  let analyze = false;
  if (isPunct(t[1], "(")) {
    const close = matchingParen(t, 1);
    if (close < 0) return write("unparseable: EXPLAIN options");
    for (let k = 2; k < close; k++) {
      const opt = t[k]!;
      const isOptionName = isPunct(t[k - 1], "(") || isPunct(t[k - 1], ",");
      if (isOptionName && (isWord(opt, "analyze") || isWord(opt, "analyse"))) {
        const value = t[k + 1]!; // exists: at worst the closing paren
        const bare = isPunct(value, ",") || isPunct(value, ")");
        if (bare || !isFalseOption(value)) analyze = true;
      }
    }
    i = close + 1;
  } else {
    // Legacy syntax: EXPLAIN [ANALYZE] [VERBOSE] statement.
    while (
      isWord(t[i], "analyze") ||
      isWord(t[i], "analyse") ||
      isWord(t[i], "verbose")
    ) {
      if (!isWord(t[i], "verbose")) analyze = true;
      i++;
    }
  }
  const inner = t.slice(i);
  const head = inner[0];
  if (head === undefined)
    return write("unparseable: EXPLAIN without a statement");
  if (
    !isPunct(head, "(") &&
    !(head.kind === "word" && EXPLAINABLE.has(head.text))
  ) {
    return write(`EXPLAIN ${head.text.toUpperCase()}`);
  }
  // Planning never calls VOLATILE functions, so a plan-only EXPLAIN calls nothing that matters.
  if (!analyze) return read([]);
  const verdict = classifyStatement(inner);
  return verdict.readOnly
    ? verdict
    : write(`EXPLAIN ANALYZE ${verdict.reason}`);
}

/** PostgreSQL's defGetBoolean false spellings: false, off, 0 (any case, word or string). */
function isFalseOption(v: SqlToken): boolean {
  const text =
    v.kind === "string" && v.text.startsWith("'")
      ? v.text.slice(1, -1).toLowerCase()
      : v.text;
  return (
    (v.kind === "word" || v.kind === "number" || v.kind === "string") &&
    (text === "false" || text === "off" || text === "0")
  );
}

/**
 * `COPY table [(cols)] TO STDOUT` and `COPY (query) TO STDOUT` only read.
 * `COPY ... FROM` writes; `COPY ... TO 'file'` or `TO PROGRAM` has effects on
 * the server it runs on, which the caller means to be the primary.
 */
function classifyCopy(t: readonly SqlToken[]): SqlClassification {
  let i = 1;
  let functions: readonly string[] = [];
  if (isPunct(t[1], "(")) {
    const close = matchingParen(t, 1);
    if (close <= 2) return write("unparseable: COPY");
    const verdict = classifyStatement(t.slice(2, close));
    // COPY (DELETE ... RETURNING *) TO STDOUT is legal and deletes.
    if (!verdict.readOnly) return write(`COPY (${verdict.reason})`);
    functions = verdict.functions;
    i = close + 1;
  } else {
    if (isWord(t[i], "binary")) i++; // pre-7.3 syntax, still accepted
    if (!isName(t[i])) return write("unparseable: COPY");
    i++;
    while (isPunct(t[i], ".") && isName(t[i + 1])) i += 2;
    if (isPunct(t[i], "(")) {
      const close = matchingParen(t, i);
      if (close < 0) return write("unparseable: COPY");
      i = close + 1;
    }
  }
  if (isWord(t[i], "from")) return write("COPY ... FROM");
  if (isWord(t[i], "to") && isWord(t[i + 1], "stdout")) return read(functions);
  return write("COPY ... TO file or program");
}

/** Index of the `)` closing the `(` at `open`, or -1. */
function matchingParen(t: readonly SqlToken[], open: number): number {
  let depth = 0;
  for (let i = open; i < t.length; i++) {
    if (isPunct(t[i], "(")) depth++;
    else if (isPunct(t[i], ")") && --depth === 0) return i;
  }
  return -1;
}

function isPunct(tok: SqlToken | undefined, text: string): boolean {
  return tok !== undefined && tok.kind === "punct" && tok.text === text;
}

function isWord(tok: SqlToken | undefined, text: string): boolean {
  return tok !== undefined && tok.kind === "word" && tok.text === text;
}

function isName(tok: SqlToken | undefined): boolean {
  return (
    tok !== undefined && (tok.kind === "word" || tok.kind === "quoted_ident")
  );
}

function read(functions: readonly string[]): SqlClassification {
  return Object.freeze({ readOnly: true, functions: Object.freeze(functions) });
}

function write(reason: string, kind: WriteKind = "write"): SqlClassification {
  return Object.freeze({ readOnly: false, kind, reason });
}

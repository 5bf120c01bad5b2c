import { tokenizeSql } from "../sql/sql_tokenizer";
import type { SqlToken } from "../sql/sql_tokens";

/**
 * The tables a statement may change, for cache invalidation: `[]` for a
 * statement proven read-only (or one that only locks rows), the target
 * tables of INSERT / UPDATE / DELETE / MERGE / TRUNCATE / COPY ... FROM
 * (data-modifying CTEs included), and null when they cannot be told (DDL,
 * a function that may write, SQL that does not parse): then the caller
 * invalidates the whole cluster.
 *
 * Writes a statement causes elsewhere (triggers, rules, functions) are not
 * seen: a repository whose tables change that way declares them on its
 * cached reads' scopes (see docs/cache.md).
 */
export function writeTargets(
  sql: string,
  /** The raw-SQL gate's verdict (classifier + VOLATILE user functions). */
  provablyReadOnly: (sql: string) => boolean,
): readonly string[] | null {
  if (provablyReadOnly(sql)) return NONE;
  let tokens: SqlToken[];
  try {
    tokens = tokenizeSql(sql);
  } catch {
    return null;
  }
  const tables = new Set<string>();
  let locks = false;
  for (let i = 0; i < tokens.length; i++) {
    const w = word(tokens[i]);
    if (w === undefined) continue;
    let name: string | undefined;
    if ((w === "insert" || w === "merge") && word(tokens[i + 1]) === "into")
      name = tableAt(tokens, i + 2);
    else if (w === "delete" && word(tokens[i + 1]) === "from")
      name = tableAt(tokens, i + 2);
    else if (w === "update") {
      if (word(tokens[i - 1]) === "for" || word(tokens[i - 1]) === "key") {
        locks = true; // FOR [NO KEY] UPDATE: a locking clause, no write
        continue;
      }
      // MERGE's WHEN ... THEN UPDATE SET names no table (MERGE INTO did).
      if (word(tokens[i + 1]) === "set") continue;
      name = tableAt(tokens, i + 1);
    } else if (w === "truncate") {
      // TRUNCATE [TABLE] [ONLY] a [*], b, ...
      let j = i + 1;
      if (word(tokens[j]) === "table") j++;
      for (;;) {
        const t = tableAt(tokens, j);
        if (t === undefined) return null;
        tables.add(t);
        j = skipName(tokens, j);
        if (tokens[j]?.text === "*") j++;
        if (tokens[j]?.text !== ",") break;
        j++;
      }
      continue;
    } else if (w === "copy") {
      name = tableAt(tokens, i + 1);
      if (name === undefined) continue; // COPY (query) TO: read-only parts checked by the classifier
    } else if (
      w === "for" &&
      ["share", "key", "no"].includes(word(tokens[i + 1]) ?? "")
    ) {
      locks = true;
      continue;
    } else continue;
    if (name === undefined) return null;
    tables.add(name);
  }
  if (tables.size === 0) return locks ? NONE : null;
  return [...tables];
}

const NONE: readonly string[] = Object.freeze([]);
const SKIP = new Set(["only"]);

function word(t: SqlToken | undefined): string | undefined {
  return t?.kind === "word" ? t.text : undefined;
}

/** The (last part of the) table name starting at `j`, after ONLY; undefined when none is there. */
function tableAt(t: readonly SqlToken[], j: number): string | undefined {
  while (SKIP.has(word(t[j]) ?? "")) j++;
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
  while (SKIP.has(word(t[j]) ?? "")) j++;
  j++;
  while (t[j]?.text === "." && t[j + 1] !== undefined) j += 2;
  return j;
}

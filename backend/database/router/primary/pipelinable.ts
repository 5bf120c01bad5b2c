/** First words of the statements a write's flight may carry. */
const PIPELINED_VERBS = new Set([
  "insert",
  "update",
  "delete",
  "merge",
  "with",
  "select",
  "values",
]);

/**
 * May `sql` go in a `PipelinedWrite` (nodes/pipelined_write.ts), inside
 * BEGIN/COMMIT, with the same effect as alone? One DML or SELECT statement
 * (first word INSERT, UPDATE, DELETE, MERGE, WITH, SELECT or VALUES, after
 * comments and parentheses) and no `;` but at the end. Everything else (DDL,
 * VACUUM, CALL, COPY, transaction control, several statements in one
 * string) runs alone, and a token for it is read with a statement of its own.
 */
export function pipelinable(sql: string): boolean {
  // Asked on every write that wants a token; repositories send few texts
  // (long ones are not kept: a bounded count of short texts).
  if (sql.length > 2_048) return decide(sql);
  let known = verdicts.get(sql);
  if (known === undefined) {
    if (verdicts.size >= 1_000) verdicts.clear();
    verdicts.set(sql, (known = decide(sql)));
  }
  return known;
}

const verdicts = new Map<string, boolean>();

function decide(sql: string): boolean {
  const semi = sql.indexOf(";");
  if (semi !== -1 && sql.slice(semi + 1).trim() !== "") return false;
  let i = 0;
  const n = sql.length;
  for (;;) {
    while (i < n && /[\s(]/.test(sql[i]!)) i++;
    if (sql.startsWith("--", i)) {
      const eol = sql.indexOf("\n", i);
      if (eol === -1) return false;
      i = eol + 1;
    } else if (sql.startsWith("/*", i)) {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      do {
        if (sql.startsWith("/*", i)) (depth++, (i += 2));
        else if (sql.startsWith("*/", i)) (depth--, (i += 2));
        else i++;
      } while (depth > 0 && i < n);
      if (depth > 0) return false;
    } else break;
  }
  let j = i;
  while (j < n && /[A-Za-z]/.test(sql[j]!)) j++;
  return PIPELINED_VERBS.has(sql.slice(i, j).toLowerCase());
}

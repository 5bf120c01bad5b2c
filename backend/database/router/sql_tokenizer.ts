/** A lexical token of PostgreSQL SQL; comments and whitespace are dropped. */
export interface SqlToken {
  readonly kind: "word" | "quoted_ident" | "string" | "number" | "param" | "op" | "punct";
  /** Lower-cased for words; raw text otherwise. */
  readonly text: string;
}

/** SQL the tokenizer cannot read to the end: it goes to the primary. */
export class SqlTokenizeError extends Error {}

const isWordStart = (c: number) =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
const isWordPart = (c: number) => isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
const isDigit = (c: number) => c >= 48 && c <= 57;
const OP_CHARS = "+-*/<>=~!@#%^&|`?";

/**
 * Splits SQL into tokens in one pass over char codes, following PostgreSQL's
 * lexer for what matters to routing: `--` and nested `/* *\/` comments,
 * 'standard' strings with '' escapes, E'...' strings with backslash escapes,
 * U&'...', B'...', X'...', "quoted ""identifiers""", $tag$ dollar quotes $tag$
 * and $1 parameters.
 *
 * @throws {SqlTokenizeError} on an unterminated string, comment, identifier or dollar quote.
 */
export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    // whitespace
    if (c === 32 || (c >= 9 && c <= 13)) {
      i++;
      continue;
    }
    // -- line comment
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf("\n", i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    // /* nested block comment */
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++;
          i += 2;
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw new SqlTokenizeError("unterminated comment");
      continue;
    }
    // string prefixes: E'..', B'..', X'..', N'..', U&'..'
    if ((c === 69 || c === 101) && sql.charCodeAt(i + 1) === 39) {
      i = readString(sql, i + 1, true);
      tokens.push({ kind: "string", text: "" });
      continue;
    }
    if ((c === 66 || c === 98 || c === 88 || c === 120 || c === 78 || c === 110) && sql.charCodeAt(i + 1) === 39) {
      i = readString(sql, i + 1, false);
      tokens.push({ kind: "string", text: "" });
      continue;
    }
    if ((c === 85 || c === 117) && sql.charCodeAt(i + 1) === 38) {
      const q = sql.charCodeAt(i + 2);
      if (q === 39) {
        i = readString(sql, i + 2, false);
        tokens.push({ kind: "string", text: "" });
        continue;
      }
      if (q === 34) {
        const [end, text] = readQuotedIdent(sql, i + 2);
        i = end;
        tokens.push({ kind: "quoted_ident", text });
        continue;
      }
    }
    if (c === 39) {
      i = readString(sql, i, false);
      tokens.push({ kind: "string", text: "" });
      continue;
    }
    if (c === 34) {
      const [end, text] = readQuotedIdent(sql, i);
      i = end;
      tokens.push({ kind: "quoted_ident", text });
      continue;
    }
    if (c === 36) {
      // $1 parameter, or $tag$ ... $tag$ dollar quote
      if (isDigit(sql.charCodeAt(i + 1))) {
        let j = i + 1;
        while (j < n && isDigit(sql.charCodeAt(j))) j++;
        tokens.push({ kind: "param", text: sql.slice(i, j) });
        i = j;
        continue;
      }
      let j = i + 1;
      while (j < n && isWordStart(sql.charCodeAt(j))) j++;
      while (j < n && isWordPart(sql.charCodeAt(j)) && sql.charCodeAt(j) !== 36) j++;
      if (sql.charCodeAt(j) === 36) {
        const tag = sql.slice(i, j + 1);
        const end = sql.indexOf(tag, j + 1);
        if (end < 0) throw new SqlTokenizeError("unterminated dollar quote");
        tokens.push({ kind: "string", text: "" });
        i = end + tag.length;
        continue;
      }
      tokens.push({ kind: "op", text: "$" });
      i++;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      tokens.push({ kind: "word", text: sql.slice(i, j).toLowerCase() });
      i = j;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n && (isWordPart(sql.charCodeAt(j)) || sql.charCodeAt(j) === 46)) j++;
      tokens.push({ kind: "number", text: sql.slice(i, j) });
      i = j;
      continue;
    }
    if (c === 40 || c === 41 || c === 44 || c === 59 || c === 91 || c === 93 || c === 46) {
      tokens.push({ kind: "punct", text: sql[i]! });
      i++;
      continue;
    }
    if (c === 58) {
      // :: cast or : slice
      const two = sql.charCodeAt(i + 1) === 58;
      tokens.push({ kind: "op", text: two ? "::" : ":" });
      i += two ? 2 : 1;
      continue;
    }
    if (OP_CHARS.includes(sql[i]!)) {
      let j = i + 1;
      while (j < n && OP_CHARS.includes(sql[j]!) && !(sql[j] === "-" && sql[j + 1] === "-") && !(sql[j] === "/" && sql[j + 1] === "*")) j++;
      tokens.push({ kind: "op", text: sql.slice(i, j) });
      i = j;
      continue;
    }
    throw new SqlTokenizeError(`unexpected character ${JSON.stringify(sql[i])}`);
  }
  return tokens;
}

/** Index after the closing quote of the string starting at `start` (a `'`). */
function readString(sql: string, start: number, backslashEscapes: boolean): number {
  let i = start + 1;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (backslashEscapes && c === 92) {
      i += 2;
      continue;
    }
    if (c === 39) {
      if (sql.charCodeAt(i + 1) === 39) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  throw new SqlTokenizeError("unterminated string");
}

/** [index after the closing quote, identifier text] of `"..."` at `start`. */
function readQuotedIdent(sql: string, start: number): [number, string] {
  let i = start + 1;
  let text = "";
  const n = sql.length;
  while (i < n) {
    if (sql.charCodeAt(i) === 34) {
      if (sql.charCodeAt(i + 1) === 34) {
        text += '"';
        i += 2;
        continue;
      }
      return [i + 1, text];
    }
    text += sql[i];
    i++;
  }
  throw new SqlTokenizeError("unterminated quoted identifier");
}

import {
  pushDollar,
  pushNumber,
  pushQuotedIdent,
  pushString,
} from "./sql_lexemes";
import {
  DOLLAR,
  DQUOTE,
  isDigit,
  isIdentPart,
  isIdentStart,
  isOpChar,
  isSpace,
  QUOTE,
  SqlTokenizeError,
  type SqlToken,
} from "./sql_tokens";

/**
 * Splits SQL into tokens in one pass over char codes (no regular expressions,
 * so no backtracking), following PostgreSQL's lexer for everything that can
 * hide a keyword from a keyword scan: `--` and nested `/* *\/` comments,
 * standard strings (`''` escape; `standard_conforming_strings = on`, the
 * default since 9.1), `E'..'` with backslash escapes, `U&'..'`, `B'..'`,
 * `X'..'`, `N'..'`, `"quoted ""identifiers"""`, `U&".."`, `$$..$$` and
 * `$tag$..$tag$` dollar quotes, and `$1` parameters.
 *
 * @throws {SqlTokenizeError} on an unterminated string, comment, quoted
 *   identifier or dollar quote, an empty quoted identifier, or a character
 *   PostgreSQL itself would reject.
 */
export function tokenizeSql(sql: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1); // NaN past the end: matches nothing
    if (isSpace(c)) {
      i++;
    } else if (c === 45 && next === 45) {
      // `--` runs to the end of the line; PostgreSQL ends it at \n or \r.
      i += 2;
      while (i < n && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) i++;
    } else if (c === 47 && next === 42) {
      i = skipBlockComment(sql, i);
    } else if (c === QUOTE) {
      i = pushString(tokens, sql, i, i, false);
    } else if ((c === 69 || c === 101) && next === QUOTE) {
      i = pushString(tokens, sql, i, i + 1, true); // E'..'
    } else if (
      (c === 66 ||
        c === 98 ||
        c === 88 ||
        c === 120 ||
        c === 78 ||
        c === 110) &&
      next === QUOTE
    ) {
      i = pushString(tokens, sql, i, i + 1, false); // B'..', X'..', N'..'
    } else if (
      (c === 85 || c === 117) &&
      next === 38 &&
      sql.charCodeAt(i + 2) === QUOTE
    ) {
      // U&'..': backslash starts a Unicode escape, never a quote escape.
      i = pushString(tokens, sql, i, i + 2, false);
    } else if (
      (c === 85 || c === 117) &&
      next === 38 &&
      sql.charCodeAt(i + 2) === DQUOTE
    ) {
      i = pushQuotedIdent(tokens, sql, i + 2, true);
    } else if (c === DQUOTE) {
      i = pushQuotedIdent(tokens, sql, i, false);
    } else if (isIdentStart(c)) {
      let j = i + 1;
      let plain = c < 65 || c > 90; // no upper-case ASCII letter seen yet
      while (j < n && isIdentPart(sql.charCodeAt(j))) {
        const d = sql.charCodeAt(j);
        if (d >= 65 && d <= 90) plain = false;
        j++;
      }
      const raw = sql.slice(i, j);
      tokens.push({ kind: "word", text: plain ? raw : asciiLower(raw) });
      i = j;
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      i = pushNumber(tokens, sql, i);
    } else if (c === DOLLAR) {
      i = pushDollar(tokens, sql, i);
    } else if (c === 58) {
      const two = next === 58 || next === 61; // `::` cast, `:=` assignment
      tokens.push(
        two
          ? { kind: "op", text: sql.slice(i, i + 2) }
          : { kind: "punct", text: ":" },
      );
      i += two ? 2 : 1;
    } else if (
      c === 40 ||
      c === 41 ||
      c === 44 ||
      c === 59 ||
      c === 91 ||
      c === 93 ||
      c === 46
    ) {
      tokens.push({ kind: "punct", text: sql.charAt(i) }); // ( ) , ; [ ] .
      i++;
    } else if (isOpChar(c)) {
      let j = i + 1;
      // An operator stops where a comment starts: `1+--x` is `1 +` and a comment.
      while (j < n && isOpChar(sql.charCodeAt(j))) {
        const d = sql.charCodeAt(j);
        const e = sql.charCodeAt(j + 1);
        if ((d === 45 && e === 45) || (d === 47 && e === 42)) break;
        j++;
      }
      tokens.push({ kind: "op", text: sql.slice(i, j) });
      i = j;
    } else {
      throw new SqlTokenizeError("unexpected character", i);
    }
  }
  return tokens;
}

/** PostgreSQL folds only ASCII letters (String#toLowerCase would turn U+212A KELVIN SIGN into "k"). */
function asciiLower(s: string): string {
  let out = "";
  for (let k = 0; k < s.length; k++) {
    const d = s.charCodeAt(k);
    out += d >= 65 && d <= 90 ? String.fromCharCode(d + 32) : s.charAt(k);
  }
  return out;
}

/** Index after the block comment opening at `start`; comments nest, unlike in the SQL standard's C cousins. */
function skipBlockComment(sql: string, start: number): number {
  const n = sql.length;
  let depth = 1;
  let i = start + 2;
  while (i < n) {
    const c = sql.charCodeAt(i);
    const d = sql.charCodeAt(i + 1);
    if (c === 47 && d === 42) {
      depth++;
      i += 2;
    } else if (c === 42 && d === 47) {
      i += 2;
      if (--depth === 0) return i;
    } else i++;
  }
  throw new SqlTokenizeError("unterminated comment", start);
}

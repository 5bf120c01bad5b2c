import {
  BACKSLASH,
  DOLLAR,
  DQUOTE,
  isDigit,
  isIdentPart,
  isIdentStart,
  QUOTE,
  SqlTokenizeError,
  type SqlToken,
} from "./sql_tokens";

/*
 * Scanners of the lexemes whose rules can hide a keyword: string literals
 * in every prefix form, quoted identifiers, numbers and dollar quotes. Each
 * pushes one token and returns the index after it.
 */

/** Pushes the string literal whose prefix starts at `start` and opening quote is at `quote`. */
export function pushString(
  tokens: SqlToken[],
  sql: string,
  start: number,
  quote: number,
  backslash: boolean,
): number {
  const n = sql.length;
  let i = quote + 1;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (backslash && c === BACKSLASH) {
      i += 2; // `\'` and `\\` in E'..' never end the string
    } else if (c === QUOTE) {
      if (sql.charCodeAt(i + 1) !== QUOTE) {
        tokens.push({ kind: "string", text: sql.slice(start, i + 1) });
        return i + 1;
      }
      i += 2;
    } else i++;
  }
  throw new SqlTokenizeError("unterminated string", start);
}

/** Pushes the quoted identifier opening at `quote`, decoding `""` and, for U&"..", `\XXXX`. */
export function pushQuotedIdent(
  tokens: SqlToken[],
  sql: string,
  quote: number,
  unicode: boolean,
): number {
  const n = sql.length;
  let i = quote + 1;
  let name = "";
  let from = i;
  while (i < n) {
    if (sql.charCodeAt(i) !== DQUOTE) {
      i++;
    } else if (sql.charCodeAt(i + 1) === DQUOTE) {
      name += sql.slice(from, i + 1);
      i += 2;
      from = i;
    } else {
      name += sql.slice(from, i);
      if (name.length === 0)
        throw new SqlTokenizeError("zero-length quoted identifier", quote);
      tokens.push({
        kind: "quoted_ident",
        text: unicode ? decodeUnicodeEscapes(name, quote) : name,
      });
      return i + 1;
    }
  }
  throw new SqlTokenizeError("unterminated quoted identifier", quote);
}

/**
 * Decodes `\XXXX`, `\+XXXXXX` and `\\` with the default escape character.
 * A `UESCAPE` clause would change the escape character; the classifier
 * refuses any statement containing the word `uescape` instead.
 */
function decodeUnicodeEscapes(s: string, offset: number): string {
  if (!s.includes("\\")) return s;
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (c !== "\\") {
      out += c;
      i++;
    } else if (s.charAt(i + 1) === "\\") {
      out += "\\";
      i += 2;
    } else {
      const long = s.charAt(i + 1) === "+";
      const hex = s.slice(long ? i + 2 : i + 1, long ? i + 8 : i + 5);
      const code =
        hex.length === (long ? 6 : 4) && /^[0-9a-fA-F]+$/.test(hex)
          ? parseInt(hex, 16)
          : NaN;
      if (!(code >= 1 && code <= 0x10ffff))
        throw new SqlTokenizeError("invalid Unicode escape", offset);
      out += String.fromCodePoint(code);
      i += long ? 8 : 5;
    }
  }
  return out;
}

/** Pushes a numeric literal: 42, 3.5, .5, 1e-3, 1_000 (the text is never interpreted). */
export function pushNumber(
  tokens: SqlToken[],
  sql: string,
  start: number,
): number {
  const n = sql.length;
  let i = start;
  while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
  // `1..5` is not a number followed by `.`, but a `.` must not swallow a second one.
  if (sql.charCodeAt(i) === 46 && sql.charCodeAt(i + 1) !== 46) {
    i++;
    while (i < n && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95))
      i++;
  }
  const e = sql.charCodeAt(i);
  if (e === 69 || e === 101) {
    const s = sql.charCodeAt(i + 1);
    if (
      isDigit(s) ||
      ((s === 43 || s === 45) && isDigit(sql.charCodeAt(i + 2)))
    ) {
      i += 2;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
    }
  }
  // Letters right after the digits (`0x1F`, `1for`) are left to become a word:
  // before PostgreSQL 15 `LIMIT 1for share` lexes as `1 for share`, so the
  // keyword must stay visible to the classifier.
  tokens.push({ kind: "number", text: sql.slice(start, i) });
  return i;
}

/** Pushes `$1` (a parameter) or a `$tag$ .. $tag$` / `$$ .. $$` dollar-quoted string. */
export function pushDollar(
  tokens: SqlToken[],
  sql: string,
  start: number,
): number {
  const n = sql.length;
  let i = start + 1;
  if (isDigit(sql.charCodeAt(i))) {
    while (i < n && isDigit(sql.charCodeAt(i))) i++;
    tokens.push({ kind: "param", text: sql.slice(start, i) });
    return i;
  }
  // Tag: an identifier without `$` (its first character not a digit), or empty.
  if (isIdentStart(sql.charCodeAt(i))) {
    i++;
    while (
      i < n &&
      isIdentPart(sql.charCodeAt(i)) &&
      sql.charCodeAt(i) !== DOLLAR
    )
      i++;
  }
  if (sql.charCodeAt(i) !== DOLLAR)
    throw new SqlTokenizeError("unexpected character", start);
  const tag = sql.slice(start, i + 1);
  const close = sql.indexOf(tag, i + 1);
  if (close < 0) throw new SqlTokenizeError("unterminated dollar quote", start);
  const end = close + tag.length;
  tokens.push({ kind: "string", text: sql.slice(start, end) });
  return end;
}

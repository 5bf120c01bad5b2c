/** Kinds of lexical token; comments and whitespace produce none. */
export type SqlTokenKind =
  "word" | "quoted_ident" | "string" | "number" | "param" | "op" | "punct";

/**
 * One lexical token of PostgreSQL SQL.
 * - `word`: keyword or unquoted identifier, ASCII-lower-cased as PostgreSQL does.
 * - `quoted_ident`: the identifier's name, quotes removed, `""` and `U&` escapes decoded.
 * - `string`: the raw literal as written, prefix and quotes included (`E'a\'b'`, `$q$..$q$`).
 * - `number`, `param` (`$1`), `op` (`<=`, `::`, `||`), `punct` (`( ) [ ] , ; . :`): as written.
 */
export interface SqlToken {
  readonly kind: SqlTokenKind;
  readonly text: string;
}

/** SQL the tokenizer cannot read to the end; the classifier sends it to the primary. */
export class SqlTokenizeError extends Error {
  /** Stable code for logs and metrics. */
  readonly code = "sql_unparseable";
  /**
   * @param reason short cause, e.g. "unterminated string" (never the SQL itself,
   *   which may carry parameters inlined by the caller)
   * @param offset character offset where the bad token starts
   */
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`${reason} at offset ${offset}`);
    this.name = "SqlTokenizeError";
  }
}

// Character classes of PostgreSQL's scan.l; every byte >= 0x80 counts as a letter.
const isIdentStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentPart = (c: number): boolean =>
  isIdentStart(c) || isDigit(c) || c === 36;
// PostgreSQL's op_chars: ~ ! @ # ^ & | ` ? + - * / % < > =
const isOpChar = (c: number): boolean =>
  c === 126 ||
  c === 33 ||
  c === 64 ||
  c === 35 ||
  c === 94 ||
  c === 38 ||
  c === 124 ||
  c === 96 ||
  c === 63 ||
  c === 43 ||
  c === 45 ||
  c === 42 ||
  c === 47 ||
  c === 37 ||
  c === 60 ||
  c === 62 ||
  c === 61;
const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

const QUOTE = 39; // '
const DQUOTE = 34; // "
const DOLLAR = 36;
const BACKSLASH = 92;

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

/** Pushes the string literal whose prefix starts at `start` and opening quote is at `quote`. */
function pushString(
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
function pushQuotedIdent(
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
function pushNumber(tokens: SqlToken[], sql: string, start: number): number {
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
function pushDollar(tokens: SqlToken[], sql: string, start: number): number {
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

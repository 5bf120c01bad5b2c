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
export const isIdentStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isIdentPart = (c: number): boolean =>
  isIdentStart(c) || isDigit(c) || c === 36;
// PostgreSQL's op_chars: ~ ! @ # ^ & | ` ? + - * / % < > =
export const isOpChar = (c: number): boolean =>
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
export const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);

export const QUOTE = 39; // '
export const DQUOTE = 34; // "
export const DOLLAR = 36;
export const BACKSLASH = 92;

import { tokenizeSql } from "./sql_tokenizer";

/** Most statement texts and shapes {@link RefusalMemory} keeps; the oldest goes first. */
export const REFUSAL_MEMORY_MAX_ENTRIES = 1000;
// Same bound as the classifier cache: longer texts are one-off bulk statements.
const MAX_REMEMBERED_SQL_CHARS = 16_384;
const MAX_SHAPE_CHARS = 200;

/** What {@link RefusalMemory.note} learned from one refusal. */
export interface RefusalNote {
  /** The statement's shape (literals as `?`, at most 200 characters), safe to log. */
  readonly shape: string;
  /** True the first time this shape is refused (while remembered): log it then, not again. */
  readonly firstOfShape: boolean;
}

/**
 * Remembers statements a hot standby refused although the classifier let
 * them through (a view calling a writing function, an unlogged table,
 * `current_schema()` creating a temporary schema...), so the router sends
 * the same text straight to the primary next time and logs each statement
 * shape once. Bounded: at most {@link REFUSAL_MEMORY_MAX_ENTRIES} texts and
 * as many shapes, oldest evicted first. Entries never expire otherwise: a
 * remembered statement keeps going to the primary, the conservative side.
 */
export class RefusalMemory {
  private readonly texts = new Set<string>();
  private readonly shapes = new Set<string>();
  private refusalCount = 0;
  private tempSchema = false;

  /** Records one refusal of `sql` with the standby's error `message`. */
  note(sql: string, message: unknown): RefusalNote {
    this.refusalCount++;
    if (
      typeof message === "string" &&
      /cannot create temporary tables during recovery/i.test(message)
    ) {
      this.tempSchema = true;
    }
    if (sql.length <= MAX_REMEMBERED_SQL_CHARS) addBounded(this.texts, sql);
    const shape = statementShape(sql);
    const firstOfShape = !this.shapes.has(shape);
    if (firstOfShape) addBounded(this.shapes, shape);
    return { shape, firstOfShape };
  }

  /** True when a standby refused exactly this text before (and it is still remembered). */
  refused(sql: string): boolean {
    return this.texts.size > 0 && this.texts.has(sql);
  }

  /**
   * True once a standby refused a statement because the session would have
   * to create its temporary schema (`pg_temp` first on the search path):
   * from then on `current_schema()` and `current_schemas()` need the primary.
   */
  get replicaSessionsNeedTempSchema(): boolean {
    return this.tempSchema;
  }

  /** Refusals seen since start (for metrics). */
  get refusals(): number {
    return this.refusalCount;
  }

  /** Distinct statement shapes remembered as refused (for metrics). */
  get refusedShapes(): number {
    return this.shapes.size;
  }
}

// No space after these tokens, nor before the second set.
const NO_SPACE_AFTER: ReadonlySet<string> = new Set([".", "(", "[", "::"]);
const NO_SPACE_BEFORE: ReadonlySet<string> = new Set([
  ".",
  ",",
  ")",
  "]",
  ";",
  "::",
]);

/**
 * The statement's shape for logs: its tokens (comments dropped) with single
 * spaces between words, every string and number literal as `?`, cut at 200
 * characters. Parameters stay `$1`; values never appear. SQL the tokenizer
 * cannot read has the one shape `(unparseable)`.
 */
export function statementShape(sql: string): string {
  let shape = "";
  try {
    let prev = "";
    for (const t of tokenizeSql(sql)) {
      const text =
        t.kind === "string" || t.kind === "number"
          ? "?"
          : t.kind === "quoted_ident"
            ? `"${t.text.replace(/"/g, '""')}"`
            : t.text;
      const glued =
        shape === "" ||
        NO_SPACE_AFTER.has(prev) ||
        ((t.kind === "punct" || t.kind === "op") &&
          (NO_SPACE_BEFORE.has(text) ||
            // a call or subscript: f(...), a[...]
            ((text === "(" || text === "[") && prev === "")));
      shape += glued ? text : ` ${text}`;
      // "" after a name (word or quoted identifier), else the token's text.
      prev = t.kind === "word" || t.kind === "quoted_ident" ? "" : text;
      if (shape.length > MAX_SHAPE_CHARS) break;
    }
  } catch {
    return "(unparseable)";
  }
  return shape.length > MAX_SHAPE_CHARS
    ? `${shape.slice(0, MAX_SHAPE_CHARS - 3)}...`
    : shape;
}

function addBounded(set: Set<string>, value: string): void {
  if (set.has(value)) return;
  if (set.size >= REFUSAL_MEMORY_MAX_ENTRIES) {
    const oldest = set.values().next();
    if (oldest.done !== true) set.delete(oldest.value);
  }
  set.add(value);
}

/**
 * A value a query may bind: the same union as Encore's `Primitive` in
 * `encore.dev/storage/sqldb` (declared here so the core never loads Encore;
 * `backend/database/encore/service.ts` checks at compile time that the two agree).
 */
export type Primitive =
  | string
  | string[]
  | number
  | number[]
  | boolean
  | boolean[]
  | Buffer
  | Date
  | Date[]
  | Record<string, any>
  | Record<string, any>[]
  | bigint
  | bigint[]
  | null
  | undefined;

/** A result row, as in Encore. */
export type Row = Record<string, any>;

/**
 * Encore's query API (`query`, `queryAll`, `queryRow`, `exec` and their
 * `raw*` forms), implemented over one `run(sql, params)` primitive.
 * Repository code written against Encore's `SQLDatabase` reads the same.
 * Template literals become `$1..$n` parameters: values never reach SQL text.
 */
export abstract class QueryApi {
  /**
   * Runs one statement. `raw` is true for the `raw*` forms, whose SQL the
   * router classifies; template forms are trusted as the caller declared.
   */
  protected abstract run(
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<Row[]>;

  /** Yields the rows of a template-literal query (fetched in one round trip, not through a server-side cursor). */
  async *query<T extends Row = Row>(
    strings: TemplateStringsArray,
    ...params: Primitive[]
  ): AsyncGenerator<T> {
    yield* (await this.run(buildSql(strings), normalise(params), false)) as T[];
  }

  /** All rows of a template-literal query. */
  async queryAll<T extends Row = Row>(
    strings: TemplateStringsArray,
    ...params: Primitive[]
  ): Promise<T[]> {
    return (await this.run(buildSql(strings), normalise(params), false)) as T[];
  }

  /** The first row of a template-literal query, or null. */
  async queryRow<T extends Row = Row>(
    strings: TemplateStringsArray,
    ...params: Primitive[]
  ): Promise<T | null> {
    const rows = await this.run(buildSql(strings), normalise(params), false);
    return (rows[0] as T | undefined) ?? null;
  }

  /** Runs a template-literal statement for its effect. */
  async exec(
    strings: TemplateStringsArray,
    ...params: Primitive[]
  ): Promise<void> {
    await this.run(buildSql(strings), normalise(params), false);
  }

  /** Yields the rows of `sql` with `$1..$n` placeholders (fetched in one round trip). */
  async *rawQuery<T extends Row = Row>(
    sql: string,
    ...params: Primitive[]
  ): AsyncGenerator<T> {
    yield* (await this.run(sql, normalise(params), true)) as T[];
  }

  /** All rows of `sql` with `$1..$n` placeholders. */
  async rawQueryAll<T extends Row = Row>(
    sql: string,
    ...params: Primitive[]
  ): Promise<T[]> {
    return (await this.run(sql, normalise(params), true)) as T[];
  }

  /** The first row of `sql`, or null. */
  async rawQueryRow<T extends Row = Row>(
    sql: string,
    ...params: Primitive[]
  ): Promise<T | null> {
    const rows = await this.run(sql, normalise(params), true);
    return (rows[0] as T | undefined) ?? null;
  }

  /** Runs `sql` for its effect. */
  async rawExec(sql: string, ...params: Primitive[]): Promise<void> {
    await this.run(sql, normalise(params), true);
  }
}

// A template's strings array is the same object on every call from one call
// site, so the SQL text is built once per site instead of once per query.
const sqlByTemplate = new WeakMap<TemplateStringsArray, string>();

/** Joins a template's strings with `$1..$n` placeholders (cached per call site). */
export function buildSql(strings: TemplateStringsArray): string {
  let sql = sqlByTemplate.get(strings);
  if (sql === undefined) {
    // Joined, not concatenated: one flat string, which the driver writes to
    // the socket on every query without first flattening a rope.
    const parts = [strings[0] ?? ""];
    for (let i = 1; i < strings.length; i++) parts.push("$" + i, strings[i]!);
    sql = parts.join("");
    sqlByTemplate.set(strings, sql);
  }
  return sql;
}

/** Encore sends `undefined` as NULL; so does this. */
function normalise(params: Primitive[]): unknown[] {
  for (let i = 0; i < params.length; i++)
    if (params[i] === undefined) params[i] = null;
  return params;
}

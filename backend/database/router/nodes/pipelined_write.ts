import pg from "pg";

/*
 * A write and the primary's WAL position after its commit, in one round
 * trip on one connection: one flight of extended-protocol messages,
 *
 *   Bind/Execute BEGIN, Parse/Bind/Describe/Execute <the caller's statement>,
 *   Bind/Execute COMMIT, Bind/Execute SELECT pg_current_wal_insert_lsn()::text, Sync
 *
 * The position is read after COMMIT, so it is at or past the commit record:
 * a replica that has replayed it sees the write. (Without the explicit
 * block every Execute before the Sync shares one implicit transaction,
 * committed at the Sync: a position read in it would precede the commit.)
 * BEGIN, COMMIT and the position are prepared once per connection (their
 * Parse messages lead its first flight): a write adds three Bind/Execute
 * pairs and nothing to parse or plan. One Sync, one flush of the answers: a
 * Sync after the statement instead of BEGIN/COMMIT measured dearer here
 * (the server's second flush, the client's second read).
 *
 * node-postgres runs a custom "submittable" on a client: `client.query(s)`
 * calls `s.submit(connection)` and hands it the replies (`handleRowDescription`,
 * `handleDataRow`, `handleCommandComplete`, `handleEmptyQuery`, `handleError`,
 * `handleReadyForQuery`), as pg-cursor does. Rows are parsed by pg's own
 * `Result`, which `client.query` gives the client's type parsers, as for a
 * normal query; parameters are serialised by pg's own `prepareValue`. After
 * an ErrorResponse pg calls `handleError` and drops the query.
 */

/** The pieces of pg's connection a submittable writes to (pg/lib/connection.js). */
export interface PgConnection {
  readonly stream: { cork?(): void; uncork?(): void };
  parse(msg: { text: string; name?: string }): void;
  bind(msg: { statement?: string; values?: unknown[]; binary?: boolean }): void;
  describe(msg: { type: "P" | "S"; name?: string }): void;
  execute(msg: { portal?: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** pg's parameter serialiser (`pg.utils.prepareValue`, untyped in @types/pg). */
const prepareValue = (
  pg as unknown as { utils: { prepareValue(value: unknown): unknown } }
).utils.prepareValue;

/** The statements a flight adds around the caller's, and their names when prepared. */
const WRAP = {
  begin: { name: "rr_begin", text: "BEGIN" },
  commit: { name: "rr_commit", text: "COMMIT" },
  position: {
    name: "rr_wal_position",
    // The insert position (see primary/wal_positions.ts): past the commit
    // record even when synchronous_commit = off let COMMIT return first.
    text: "SELECT pg_current_wal_insert_lsn()::text",
  },
} as const;

/**
 * Per connection (pg's Connection object): "named" once its first flight
 * sent the three Parse messages; "unnamed" when the server said a name was
 * already taken (that connection then parses them every time).
 */
const statementsOn = new WeakMap<object, "named" | "unnamed">();

// Phases, counted by completions (CommandComplete or EmptyQueryResponse).
const BEGIN = 0;
const STATEMENT = 1;
const COMMIT = 2;
const POSITION = 3;

/** Adds one of the flight's own statements: Bind/Execute of its prepared form, or Parse/Bind/Execute. */
function runWrapper(
  connection: PgConnection,
  s: { readonly name: string; readonly text: string },
  named: boolean,
): void {
  if (named) connection.bind({ statement: s.name });
  else {
    connection.parse({ text: s.text });
    connection.bind({});
  }
  connection.execute({});
}

/** What one pipelined write returns. */
export interface PipelinedResult {
  /** The caller's rows, parsed as pg parses a normal query's. */
  readonly rows: Record<string, unknown>[];
  /**
   * The primary's `pg_current_wal_insert_lsn()` after COMMIT (text, e.g.
   * `0/3000A58`); null when the write committed but that read failed.
   */
  readonly lsn: string | null;
  /** The command tag of the caller's statement (`INSERT`, `COMMIT`, or `ROLLBACK` for a COMMIT of a failed transaction). */
  readonly command: string | null;
}

/**
 * The submittable: the caller's statement wrapped in BEGIN/COMMIT (or,
 * unwrapped, a transaction's own COMMIT), then the WAL position, before one
 * Sync. Settles `done` once: the rows and the position, or the error of the
 * phase that failed ({@link failedIn}).
 */
export class PipelinedWrite {
  /** pg gives this Result the client's type parsers (client.query sets `_result._types`). */
  readonly _result = new pg.Result("", undefined as unknown as typeof pg.types);
  /** Set by `client.query` when the client runs in binary mode. */
  binary = false;
  /** pg calls (and, for `query_timeout`, wraps) this; it settles {@link done}. */
  callback: (err: Error | null | undefined) => void;
  /** Settles when the server has answered the whole flight. */
  readonly done: Promise<PipelinedResult>;
  /** The phase an error came in: BEGIN 0, the statement 1, COMMIT 2, the position 3. */
  failedIn = -1;
  /** The connection the flight went out on, once submitted. */
  connection: object | null = null;
  /** Set when pg gave the flight up after its COMMIT was answered: the connection must not be reused. */
  abandoned = false;
  private phase: number;
  private lsn: string | null = null;
  private settled = false;
  private parseError: Error | null = null;

  /**
   * @param text the caller's single statement (see primary/pipelinable.ts).
   * @param values its parameters, already serialised by {@link serializeParams}.
   * @param wrap false: send `text` without BEGIN/COMMIT (for the COMMIT of a
   *   transaction already open on the connection).
   */
  constructor(
    private readonly text: string,
    private readonly values: readonly unknown[],
    private readonly wrap = true,
  ) {
    this.phase = wrap ? BEGIN : STATEMENT;
    let resolve!: (r: PipelinedResult) => void;
    let reject!: (err: Error) => void;
    this.done = new Promise<PipelinedResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.callback = (err) => {
      // A type parser's error (at ReadyForQuery) rejects, as pg's own query
      // does, even though the write committed.
      if (err && (this.phase < POSITION || err === this.parseError)) {
        this.failedIn = this.phase;
        reject(err);
      } else {
        // An error after the COMMIT's answer (pg's query_timeout firing
        // before the flight's ReadyForQuery): the write has committed,
        // only its position is unknown; the connection is not reused.
        if (err) this.abandoned = true;
        resolve({
          rows: this._result.rows,
          lsn: this.lsn,
          command: (this._result as unknown as { command: string | null })
            .command,
        });
      }
    };
  }

  /** Writes the whole flight, corked into as few packets as the socket allows. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    let state = statementsOn.get(connection);
    connection.stream.cork?.();
    try {
      if (this.wrap && state === undefined) {
        for (const s of Object.values(WRAP)) connection.parse(s);
        statementsOn.set(connection, (state = "named"));
      }
      const named = state === "named";
      if (this.wrap) runWrapper(connection, WRAP.begin, named);
      connection.parse({ text: this.text });
      connection.bind({ values: [...this.values], binary: this.binary });
      connection.describe({ type: "P" });
      connection.execute({});
      if (this.wrap) runWrapper(connection, WRAP.commit, named);
      // No Describe: its one text column is read from the DataRow as is.
      runWrapper(connection, WRAP.position, named);
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
  }

  /**
   * After a server error: did it leave the flight's block open and aborted
   * (the caller's statement failed, or COMMIT's prepared statement was
   * gone)? Then the connection needs a ROLLBACK.
   */
  leftBlockOpen(err: unknown): boolean {
    return (
      this.failedIn === STATEMENT ||
      (this.failedIn === COMMIT && sqlstate(err) === "26000")
    );
  }

  /**
   * After a server error: did the flight fail on its own prepared
   * statements before the caller's statement could commit (a name gone, as
   * after DISCARD ALL, or taken)? Then the connection's record is mended and
   * the write may be sent again.
   */
  retryable(err: unknown): boolean {
    const code = sqlstate(err);
    const c = this.connection;
    if (c === null || this.failedIn > COMMIT) return false;
    if (code === "26000" && this.failedIn !== STATEMENT) {
      statementsOn.delete(c);
      return true;
    }
    if (code === "42P05" && this.failedIn === BEGIN) {
      statementsOn.set(c, "unnamed");
      return true;
    }
    return false;
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    if (this.phase === STATEMENT)
      (this._result as unknown as ResultInternals).addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.phase === STATEMENT) {
      const r = this._result as unknown as ResultInternals;
      // A type parser that throws must not throw inside pg's socket handler
      // (an uncaught exception): kept, and reported at ReadyForQuery, as
      // pg's own Query does.
      if (this.parseError !== null) return;
      try {
        r.addRow(r.parseRow(msg.fields));
      } catch (err) {
        this.parseError = err instanceof Error ? err : new Error(String(err));
      }
    } else if (this.phase === POSITION) {
      const v = msg.fields[0];
      this.lsn = typeof v === "string" ? v : null;
    }
  }

  handleCommandComplete(msg: unknown): void {
    if (this.phase === STATEMENT)
      (this._result as unknown as ResultInternals).addCommandComplete(msg);
    this.advance();
  }

  handleEmptyQuery(): void {
    this.advance();
  }

  handleError(err: Error): void {
    // After COMMIT the write has happened; only its position is unknown.
    if (this.phase === POSITION) {
      if ((err as { code?: unknown }).code === "26000" && this.connection)
        statementsOn.delete(this.connection);
      this.finish(null);
    } else this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(this.parseError);
  }

  handlePortalSuspended(): void {}
  handleCopyData(): void {}
  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("No source stream defined");
  }

  private advance(): void {
    this.phase =
      this.phase === STATEMENT && !this.wrap ? POSITION : this.phase + 1;
  }

  private finish(err: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(err);
  }
}

/** The parts of pg's Result a submittable drives (pg/lib/result.js). */
export interface ResultInternals {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): Record<string, unknown>;
  addRow(row: Record<string, unknown>): void;
  addCommandComplete(msg: unknown): void;
}

/**
 * Serialises parameters as pg does for a normal query.
 * @throws whatever pg throws for a value it cannot serialise.
 */
export function serializeParams(params: readonly unknown[]): unknown[] {
  return params.map((v) => prepareValue(v));
}

/** An ErrorResponse from a server that keeps the session (a SQLSTATE, not FATAL). */
export function isServerError(err: unknown): boolean {
  const severity = (err as { severity?: unknown } | null)?.severity;
  return (
    /^[0-9A-Z]{5}$/.test(sqlstate(err) ?? "") &&
    severity !== "FATAL" &&
    severity !== "PANIC"
  );
}

export function sqlstate(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

import pg from "pg";
import { classifyPgError } from "./pg_errors";
import type { PgClient, PgPool } from "./pg_pool";

/*
 * A write and the primary's WAL position after its commit, in one round
 * trip on one connection: one flight of extended-protocol messages before a
 * single Sync,
 *
 *   Parse/Bind/Execute BEGIN
 *   Parse/Bind/Describe/Execute <the caller's statement>
 *   Parse/Bind/Execute COMMIT
 *   Parse/Bind/Execute SELECT pg_current_wal_lsn()::text
 *   Sync
 *
 * The position is read after COMMIT, so it is at or past the commit record:
 * a replica that has replayed it sees the write. (Without the explicit
 * block, every Execute before the Sync would share one implicit
 * transaction, committed only at the Sync: a position read inside it would
 * be before the commit.)
 *
 * node-postgres runs a custom "submittable" on a client (`client.query(s)`
 * calls `s.submit(connection)` and hands it the server's replies through
 * `handleRowDescription`, `handleDataRow`, `handleCommandComplete`,
 * `handleEmptyQuery`, `handleError` and `handleReadyForQuery`), as pg-cursor
 * does. Rows are parsed by pg's own `Result`, which `client.query` gives the
 * client's type parsers, exactly as for a normal query; parameters are
 * serialised by pg's own `prepareValue`.
 */

/** The pieces of pg's connection a submittable writes to (pg/lib/connection.js). */
interface PgConnection {
  readonly stream: { cork?(): void; uncork?(): void };
  parse(msg: { text: string; name?: string; types?: number[] }): void;
  bind(msg: {
    portal?: string;
    statement?: string;
    values?: unknown[];
    binary?: boolean;
  }): void;
  describe(msg: { type: "P" | "S"; name?: string }): void;
  execute(msg: { portal?: string; rows?: number }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** pg's parameter serialiser (`pg.utils.prepareValue`, untyped in @types/pg). */
const prepareValue = (
  pg as unknown as { utils: { prepareValue(value: unknown): unknown } }
).utils.prepareValue;

/** What one pipelined write returns. */
export interface PipelinedResult {
  /** The caller's rows, parsed as pg parses a normal query's. */
  readonly rows: Record<string, unknown>[];
  /**
   * The primary's `pg_current_wal_lsn()` after COMMIT (text, e.g. `0/3000A58`);
   * null when the write committed but that read failed.
   */
  readonly lsn: string | null;
}

/** A failed pipelined write: the server's error, and whether the connection needs a ROLLBACK. */
export interface PipelinedFailure {
  readonly error: unknown;
  /** The error came from the server before COMMIT completed: the block may be open and aborted. */
  readonly needsRollback: boolean;
}

// Phases, counted by completions (CommandComplete or EmptyQueryResponse).
const BEGIN = 0;
const STATEMENT = 1;
const COMMIT = 2;
const POSITION = 3;

/**
 * The submittable: one write wrapped in BEGIN/COMMIT (or, unwrapped, a
 * transaction's own COMMIT), followed by the WAL position, all before one
 * Sync. Settles once; `done` rejects with a {@link PipelinedFailure}.
 */
export class PipelinedWrite {
  /** pg gives this Result the client's type parsers (client.query sets `_result._types`). */
  readonly _result = new pg.Result("", undefined as unknown as typeof pg.types);
  /** Set by `client.query` when the client runs in binary mode. */
  binary = false;
  /** pg wraps this for `query_timeout`; it settles {@link done}. */
  callback: (err: Error | null | undefined, res?: unknown) => void;
  /** Settles when the server has answered the whole flight. */
  readonly done: Promise<PipelinedResult>;
  private phase: number;
  private lsn: string | null = null;
  private settled = false;
  private readonly values: unknown[];

  /**
   * @param text the caller's single statement (see {@link pipelinable}).
   * @param params its parameters, serialised with pg's `prepareValue`.
   * @param wrap false: send `text` without BEGIN/COMMIT around it (for the
   *   COMMIT of a transaction already open on the connection).
   * @throws whatever `prepareValue` throws for a value it cannot serialise, before anything is sent.
   */
  constructor(
    private readonly text: string,
    params: readonly unknown[],
    private readonly wrap = true,
  ) {
    this.phase = wrap ? BEGIN : STATEMENT;
    // Serialised up front: a value that cannot be must fail before BEGIN is on the wire.
    this.values = params.map((v) => prepareValue(v));
    let resolve!: (r: PipelinedResult) => void;
    let reject!: (f: PipelinedFailure) => void;
    this.done = new Promise<PipelinedResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.callback = (err) => {
      if (err) reject({ error: err, needsRollback: this.phase <= COMMIT });
      else resolve({ rows: this._result.rows, lsn: this.lsn });
    };
  }

  /** Writes the whole flight, corked into as few packets as the socket allows. */
  submit(connection: PgConnection): void {
    connection.stream.cork?.();
    try {
      if (this.wrap) {
        connection.parse({ text: "BEGIN" });
        connection.bind({});
        connection.execute({});
      }
      connection.parse({ text: this.text });
      connection.bind({ values: this.values, binary: this.binary });
      connection.describe({ type: "P" });
      connection.execute({});
      if (this.wrap) {
        connection.parse({ text: "COMMIT" });
        connection.bind({});
        connection.execute({});
      }
      // No Describe: its one text column is read from the DataRow as is.
      connection.parse({ text: "SELECT pg_current_wal_lsn()::text" });
      connection.bind({});
      connection.execute({});
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    if (this.phase === STATEMENT)
      (this._result as unknown as ResultInternals).addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.phase === STATEMENT) {
      const r = this._result as unknown as ResultInternals;
      r.addRow(r.parseRow(msg.fields));
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
    if (this.phase === POSITION) {
      // COMMIT completed: the write happened; only its position is unknown.
      this.lsn = null;
      this.finish(null);
      return;
    }
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(null);
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("No source stream defined");
  }

  handleCopyData(): void {}

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

/** The parts of pg's Result the write drives (pg/lib/result.js). */
interface ResultInternals {
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): Record<string, unknown>;
  addRow(row: Record<string, unknown>): void;
  addCommandComplete(msg: unknown): void;
}

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
 * May `sql` run inside BEGIN/COMMIT in one flight, with the same effect as
 * alone? Only one DML or SELECT statement (first word INSERT, UPDATE,
 * DELETE, MERGE, WITH, SELECT or VALUES, after comments and parentheses)
 * and no `;` but at the end. Everything else (DDL, VACUUM, CALL, COPY,
 * transaction control, several statements in one string) runs alone, and a
 * token for it is read with a statement of its own.
 */
export function pipelinable(sql: string): boolean {
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

/** A pg client that runs submittables (every `pg` client does; see the comment at the top). */
interface SubmittingClient {
  query(submittable: PipelinedWrite): unknown;
}

/**
 * Runs `sql` as a {@link PipelinedWrite} on a connection of `pool`: the
 * caller's rows and the primary's WAL position after the commit, in one
 * round trip. A statement the server refuses surfaces its error as the
 * statement alone would; the connection is rolled back (a second round trip,
 * on this path only) and goes back to the pool. A connection that failed, or
 * whose ROLLBACK failed, is destroyed.
 *
 * @throws the pool's error when no connection can be had, the server's error
 *   for the statement or its COMMIT, or pg's error for a broken connection.
 */
export async function runPipelinedWrite(
  pool: PgPool,
  sql: string,
  params: readonly unknown[],
): Promise<PipelinedResult> {
  const write = new PipelinedWrite(sql, params);
  const client = await pool.connect();
  // A checked-out client that dies emits `error`; without a listener that would crash the process.
  const onError = (): void => undefined;
  client.on?.("error", onError);
  let broken: Error | undefined;
  try {
    (client as unknown as SubmittingClient).query(write);
    return await write.done;
  } catch (failure) {
    const { error, needsRollback } = failure as PipelinedFailure;
    // A refusal by a working server (constraint, syntax, ...): roll the
    // block back and keep the connection. Anything else: destroy it.
    const refused = isServerError(error) && classifyPgError(error) !== "node";
    if (!refused) broken = asError(error);
    else if (needsRollback)
      await client.query("ROLLBACK").catch((e: unknown) => {
        broken = asError(e);
      });
    throw error;
  } finally {
    client.off?.("error", onError);
    client.release(broken);
  }
}

/** An ErrorResponse from the server (it carries a SQLSTATE); the connection itself is fine. */
function isServerError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * COMMITs the transaction open on `client` and reads the primary's WAL
 * position after it, in one round trip. Returns the position (null when
 * the commit succeeded but the read did not).
 * @throws the COMMIT's error (the transaction is then over, rolled back).
 */
export async function commitWithPosition(
  client: PgClient,
): Promise<string | null> {
  const commit = new PipelinedWrite("COMMIT", [], false);
  (client as unknown as SubmittingClient).query(commit);
  try {
    return (await commit.done).lsn;
  } catch (failure) {
    throw (failure as PipelinedFailure).error;
  }
}

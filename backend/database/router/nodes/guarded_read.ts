import pg from "pg";
import { parseLsn } from "../lag/lag_tracker";
import { classifyPgError } from "../base/pg_errors";
import {
  isServerError,
  sqlstate,
  type PgConnection,
  type ResultInternals,
} from "./pipelined_write";

/*
 * A read-your-writes read in one round trip on one connection: one flight
 * of extended-protocol messages,
 *
 *   Bind/Execute <replay check>, Parse/Bind/Describe/Execute <the read>, Sync
 *
 * where the check is
 *
 *   SELECT pg_last_wal_replay_lsn()::text, pg_is_in_recovery(),
 *          current_setting('transaction_isolation') = 'read committed'
 *
 * Both run in the flight's one implicit transaction, the check first. Under
 * READ COMMITTED every statement takes its own snapshot when it starts, so
 * the read's snapshot is taken after the check saw the replay position, and
 * replay only moves forward: when the check reports a position at or past
 * the token, the read sees the write. Under REPEATABLE READ (a role's or
 * database's default_transaction_isolation) the check's snapshot would be
 * the read's too, taken before the position was read, so the check reports
 * such a session as not satisfied; and a server no longer in recovery
 * (promoted) is never taken at its word. The read runs whatever the check
 * says (the flight is already sent): a miss costs the replica that read,
 * and the router then waits for replay or goes elsewhere (see
 * read_planner.ts). A check that fails (its prepared statement gone) is a
 * miss with an unknown position, never an error for the caller; so is a
 * server error of the read on a replica the check did not vouch for (the
 * token's write may have created what the read names).
 *
 * The check is prepared once per connection (its Parse leads that
 * connection's first flight). As in pipelined_write.ts, node-postgres runs
 * this as a custom submittable and pg's own `Result` parses the rows with
 * the client's type parsers.
 */

const CHECK = {
  name: "rr_replay_check",
  text:
    "SELECT pg_last_wal_replay_lsn()::text, pg_is_in_recovery(), " +
    "current_setting('transaction_isolation') = 'read committed'",
} as const;

/** Per connection: "named" once the check was prepared there; "unnamed" when its name was taken. */
const checkOn = new WeakMap<object, "named" | "unnamed">();

const CHECK_PHASE = 0;
const READ_PHASE = 1;

/**
 * The replica had not replayed the token when the read ran (or could not
 * say so safely): the rows were discarded. Not a fault of the node, nor
 * the caller's.
 */
export class ReplayGuardMiss extends Error {
  constructor(
    /**
     * `behind`: the replica had not replayed the token; `isolation`: the
     * session is not READ COMMITTED; `not_in_recovery`: the server is no
     * standby (promoted?); `check_failed`: the check raised an error.
     */
    readonly reason: MissReason,
    /** The replay position the check reported; null when unknown. */
    readonly replayed: bigint | null,
  ) {
    super(`read-your-writes check did not pass (${reason})`);
    this.name = "ReplayGuardMiss";
  }
}

/** Why a check did not pass (see {@link ReplayGuardMiss.reason}). */
export type MissReason =
  "behind" | "isolation" | "not_in_recovery" | "check_failed";

/**
 * The submittable. Calls `onDone` once: the rows (and the replay position
 * the check saw, at or past `lsn`), or a {@link ReplayGuardMiss}, or the
 * read's own error.
 */
export class GuardedRead {
  /** pg gives this Result the client's type parsers (client.query sets `_result._types`). */
  readonly _result = new pg.Result("", undefined as unknown as typeof pg.types);
  /** Set by `client.query` when the client runs in binary mode. */
  binary = false;
  /** pg calls (and, for `query_timeout`, wraps) this. */
  callback: (err: Error | null | undefined) => void;
  private phase = CHECK_PHASE;
  private position: string | null = null;
  private inRecovery = false;
  private readCommitted = false;
  /** The check itself failed (a server error): a miss, position unknown. */
  private checkFailed = false;
  private settled = false;
  private parseError: Error | null = null;
  /** The connection the flight went out on, once submitted. */
  private connection: object | null = null;

  /**
   * @param text the read, one statement.
   * @param values its parameters, serialised (see `serializeParams`).
   * @param lsn the token's position the replica must have replayed.
   */
  constructor(
    private readonly text: string,
    private readonly values: readonly unknown[],
    private readonly lsn: bigint,
    onDone: (
      err: Error | null,
      rows: Record<string, unknown>[] | null,
      replayed: bigint | null,
    ) => void,
  ) {
    this.callback = (err) => {
      const replayed = this.replayed();
      // An error for the read itself (a parser's, or the server's when the
      // check passed) is the read's; pg's own (query_timeout, a broken
      // connection) likewise.
      if (err) return onDone(err, null, null);
      const miss = this.missReason(replayed);
      if (miss !== null)
        return onDone(new ReplayGuardMiss(miss, replayed), null, replayed);
      onDone(null, this._result.rows, replayed);
    };
  }

  private replayed(): bigint | null {
    return this.position === null ? null : parseLsn(this.position);
  }

  /** Why the check did not pass, once its row (or error) came; null when it passed. */
  private missReason(replayed: bigint | null): MissReason | null {
    if (this.checkFailed) return "check_failed";
    if (!this.inRecovery) return "not_in_recovery";
    if (!this.readCommitted) return "isolation";
    if (replayed === null) return "check_failed";
    return replayed < this.lsn ? "behind" : null;
  }

  /** Writes the whole flight, corked into as few packets as the socket allows. */
  submit(connection: PgConnection): void {
    this.connection = connection;
    let state = checkOn.get(connection);
    connection.stream.cork?.();
    try {
      if (state === undefined) {
        connection.parse(CHECK);
        checkOn.set(connection, (state = "named"));
      }
      if (state === "named") connection.bind({ statement: CHECK.name });
      else {
        connection.parse({ text: CHECK.text });
        connection.bind({});
      }
      // No Describe: its two text columns are read from the DataRow as they are.
      connection.execute({});
      connection.parse({ text: this.text });
      connection.bind({ values: [...this.values], binary: this.binary });
      connection.describe({ type: "P" });
      connection.execute({});
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    if (this.phase === READ_PHASE)
      (this._result as unknown as ResultInternals).addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    if (this.phase === CHECK_PHASE) {
      const [lsn, inRecovery, readCommitted] = msg.fields;
      this.position = typeof lsn === "string" ? lsn : null;
      this.inRecovery = inRecovery === "t";
      this.readCommitted = readCommitted === "t";
      return;
    }
    if (this.parseError !== null) return;
    // A type parser that throws must not throw inside pg's socket handler.
    const r = this._result as unknown as ResultInternals;
    try {
      r.addRow(r.parseRow(msg.fields));
    } catch (err) {
      this.parseError = err instanceof Error ? err : new Error(String(err));
    }
  }

  handleCommandComplete(msg: unknown): void {
    if (this.phase === READ_PHASE)
      (this._result as unknown as ResultInternals).addCommandComplete(msg);
    this.phase++;
  }

  handleEmptyQuery(): void {
    this.phase++;
  }

  handleError(err: Error): void {
    // pg drops the query after an ErrorResponse (the Sync's ReadyForQuery
    // is its own): the outcome is settled now.
    if (this.phase === CHECK_PHASE && isServerError(err)) {
      // The server skips the read: a miss, position unknown. A prepared
      // statement gone (DISCARD ALL) or its name taken is mended for the
      // next flight on this connection.
      const code = sqlstate(err);
      if (this.connection !== null) {
        if (code === "26000") checkOn.delete(this.connection);
        else if (code === "42P05") checkOn.set(this.connection, "unnamed");
      }
      this.checkFailed = true;
      return this.finish(null);
    }
    // The read failed on a replica the check found behind (or could not
    // vouch for): most likely for that, e.g. a column or table the token's
    // write created, not replayed there yet. A miss, not the caller's error.
    if (
      this.phase === READ_PHASE &&
      isServerError(err) &&
      classifyPgError(err) !== "node" &&
      this.missReason(this.replayed()) !== null
    )
      return this.finish(null);
    this.finish(err);
  }

  handleReadyForQuery(): void {
    this.finish(this.parseError);
  }

  handlePortalSuspended(): void {}
  handleCopyData(): void {}
  handleCopyInResponse(connection: PgConnection): void {
    connection.sendCopyFail("No source stream defined");
  }

  private finish(err: Error | null): void {
    if (this.settled) return;
    this.settled = true;
    this.callback(err);
  }
}

/**
 * May `sql` run in a {@link GuardedRead}: one statement (no `;` but at its
 * end), as the extended protocol requires.
 */
export function singleStatement(sql: string): boolean {
  const semi = sql.indexOf(";");
  return semi === -1 || sql.slice(semi + 1).trim() === "";
}

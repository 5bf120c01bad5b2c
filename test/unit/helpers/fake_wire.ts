import type {
  PgClient,
  PgPool,
} from "../../../backend/database/router/nodes/pg_pool";

/** One statement of a flight as the fake server saw it. */
export interface SentStatement {
  text: string;
  values: unknown[];
  described: boolean;
}

/** What the fake server answers a statement with. */
export type Answer =
  { rows?: Record<string, unknown>[]; tag?: string } | { error: Error };

/**
 * A primary stand-in that speaks enough of node-postgres's client contract
 * for the router's write path: `pool.query(text)` and checked-out clients'
 * `query(text)` run one statement; `query(submittable)` records the
 * extended-protocol flight the submittable writes (Parse/Bind/Describe/
 * Execute ... Sync) and then plays the server's replies to its handlers,
 * as pg's client does: after an ErrorResponse only the error is delivered
 * (pg drops the active query, so its ReadyForQuery goes nowhere).
 * Every statement that reaches it, by any path, lands in `statements`.
 */
export class FakeWirePool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  /** Every statement the server ran or was sent, in order. */
  readonly statements: string[] = [];
  /** Flights sent by submittables, one array per flight. */
  readonly flights: SentStatement[][] = [];
  /** How each checked-out client was released (undefined = kept). */
  readonly releases: Array<boolean | Error | undefined> = [];
  /** The server's answer to a statement; default: one row `{ ok: 1 }` for SELECT, none else. */
  answer: (text: string) => Answer = () => ({});
  /** What `pg_current_wal_lsn()` says. */
  lsn = "0/3000A58";
  /** Set: the next position read in a flight fails with it (once). */
  positionError: Error | null = null;

  async query(
    text: string,
    values: unknown[] = [],
  ): Promise<{ rows: Record<string, unknown>[] }> {
    return this.run(text, values);
  }

  async connect(): Promise<PgClient> {
    const client = {
      query: (arg: unknown, values?: unknown[]) =>
        typeof arg === "string"
          ? this.run(arg, values ?? [])
          : this.submit(arg as Submittable),
      release: (how?: boolean | Error) => void this.releases.push(how),
      processID: 1,
      on: () => client,
      off: () => client,
    };
    return client as unknown as PgClient;
  }

  on(): this {
    return this;
  }

  async end(): Promise<void> {}

  private async run(
    text: string,
    _values: unknown[],
  ): Promise<{ rows: Record<string, unknown>[] }> {
    this.statements.push(text);
    if (text.includes("pg_current_wal_lsn()"))
      return { rows: [{ lsn: this.lsn }] };
    const a = this.answer(text);
    if ("error" in a) throw a.error;
    return { rows: a.rows ?? [] };
  }

  private submit(s: Submittable): Submittable {
    const flight: SentStatement[] = [];
    let current: SentStatement | null = null;
    const connection = {
      stream: {},
      parse: (m: { text: string }) => {
        current = { text: m.text, values: [], described: false };
        flight.push(current);
      },
      bind: (m: { values?: unknown[] }) => {
        if (current !== null) current.values = m.values ?? [];
      },
      describe: () => {
        if (current !== null) current.described = true;
      },
      execute: () => undefined,
      sync: () => undefined,
      sendCopyFail: () => undefined,
    };
    s.submit(connection);
    this.flights.push(flight);
    // The server answers after the flight is on the wire.
    queueMicrotask(() => this.play(s, flight));
    return s;
  }

  private play(s: Submittable, flight: SentStatement[]): void {
    for (const st of flight) {
      this.statements.push(st.text);
      if (st.text.includes("pg_current_wal_lsn()")) {
        if (this.positionError !== null) {
          s.handleError(this.positionError);
          this.positionError = null;
          return;
        }
        s.handleDataRow({ fields: [this.lsn] });
        s.handleCommandComplete({ text: "SELECT 1" });
        continue;
      }
      const a = this.answer(st.text);
      if ("error" in a) {
        s.handleError(a.error);
        return;
      }
      if (st.described && a.rows !== undefined && a.rows.length > 0) {
        const names = Object.keys(a.rows[0]!);
        s.handleRowDescription({
          fields: names.map((name) => ({
            name,
            dataTypeID: 25, // text
            format: "text",
          })),
        });
        for (const row of a.rows)
          s.handleDataRow({ fields: names.map((n) => String(row[n])) });
      }
      s.handleCommandComplete({ text: a.tag ?? st.text.split(" ")[0]! });
    }
    s.handleReadyForQuery();
  }
}

/** The handlers pg's client calls on a submittable. */
interface Submittable {
  submit(connection: unknown): void;
  handleRowDescription(msg: { fields: unknown[] }): void;
  handleDataRow(msg: { fields: unknown[] }): void;
  handleCommandComplete(msg: unknown): void;
  handleError(err: Error): void;
  handleReadyForQuery(): void;
}

/** An error as pg reports a server's ErrorResponse (a SQLSTATE in `code`). */
export function serverError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: "ERROR" });
}

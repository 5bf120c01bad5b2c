import type {
  PgClient,
  PgPool,
} from "../../../backend/database/router/nodes/pg_pool";

/** One statement executed from a flight, as the fake server saw it. */
export interface SentStatement {
  text: string;
  /** Name of the prepared statement it ran from; "" for the unnamed one. */
  statement: string;
  values: unknown[];
}

/** What the fake server answers a statement with. */
export type Answer =
  { rows?: Record<string, unknown>[]; tag?: string } | { error: Error };

/** The handlers pg's client calls on a submittable. */
interface Submittable {
  submit(connection: unknown): unknown;
  handleRowDescription(msg: { fields: unknown[] }): void;
  handleDataRow(msg: { fields: unknown[] }): void;
  handleCommandComplete(msg: unknown): void;
  handleEmptyQuery(): void;
  handleError(err: Error): void;
  handleReadyForQuery(): void;
}

/** A protocol message a submittable wrote. */
type Sent =
  | { kind: "parse"; text: string; name: string }
  | { kind: "bind"; statement: string; values: unknown[] }
  | { kind: "describe" }
  | { kind: "execute" }
  | { kind: "sync" };

/**
 * A primary stand-in that speaks enough of the PostgreSQL extended protocol,
 * and of node-postgres's client contract, for the router's write path.
 * `pool.query(text)` and a client's `query(text)` run one statement.
 * `client.query(submittable)` queues it as pg's client does: the active
 * query gets the server's replies until its ReadyForQuery (after an
 * ErrorResponse pg drops it, so that ReadyForQuery goes to nobody), then
 * the next queued one is submitted. The server runs each flight as
 * PostgreSQL does: after an error it skips to the next Sync; each Sync
 * answers ReadyForQuery; named statements live per connection (Bind to a
 * missing one fails 26000, a second Parse of a name fails 42P05).
 * Every statement run, by any path, lands in `statements`.
 */
export class FakeWirePool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  /** Every statement the server ran, in order. */
  readonly statements: string[] = [];
  /** Statements executed per flight (one array per submit that sent messages). */
  readonly flights: SentStatement[][] = [];
  /** How each checked-out client was released (undefined = kept). */
  readonly releases: Array<boolean | Error | undefined> = [];
  /** Named statements on the one server connection the clients share. */
  readonly named = new Map<string, string>();
  /** The server's answer to a statement; default: no rows. */
  answer: (text: string) => Answer = () => ({});
  /** What `pg_current_wal_lsn()` and `pg_current_wal_insert_lsn()` say. */
  lsn = "0/3000A58";
  /** Set: the next position read fails with it (once). */
  positionError: Error | null = null;

  async query(text: string): Promise<{ rows: Record<string, unknown>[] }> {
    return this.run(text);
  }

  /** The one server connection every checkout shares (tests run one statement at a time). */
  private readonly link = this.openLink();

  async connect(): Promise<PgClient> {
    const { queue, pulse } = this.link;
    const client = {
      query: (arg: unknown) => {
        if (typeof arg === "string") return this.run(arg);
        queue.push(arg as Submittable);
        pulse();
        return arg;
      },
      release: (how?: boolean | Error) => void this.releases.push(how),
      processID: 1,
      on: () => client,
      off: () => client,
    };
    return client as unknown as PgClient;
  }

  /** A connection: pg's client state (active query, queue) and the wire it writes to. */
  private openLink() {
    let active: Submittable | null = null;
    let ready = true;
    const queue: Submittable[] = [];
    let sent: Sent[] = [];
    const wire = {
      stream: {},
      parse: (m: { text: string; name?: string }) =>
        sent.push({ kind: "parse", text: m.text, name: m.name ?? "" }),
      bind: (m: { statement?: string; values?: unknown[] }) =>
        sent.push({
          kind: "bind",
          statement: m.statement ?? "",
          values: m.values ?? [],
        }),
      describe: () => sent.push({ kind: "describe" }),
      execute: () => sent.push({ kind: "execute" }),
      sync: () => sent.push({ kind: "sync" }),
      sendCopyFail: () => undefined,
    };
    const reply = (r: Reply) => {
      const a = active;
      if (r.kind === "error") {
        active = null;
        a?.handleError(r.error);
      } else if (r.kind === "ready") {
        active = null;
        ready = true;
        a?.handleReadyForQuery();
        pulse();
      } else if (a !== null) {
        if (r.kind === "fields") a.handleRowDescription({ fields: r.fields });
        else if (r.kind === "row") a.handleDataRow({ fields: r.values });
        else a.handleCommandComplete({ text: r.tag });
      }
    };
    const pulse = () => {
      if (!ready || queue.length === 0) return;
      active = queue.shift()!;
      ready = false;
      sent = [];
      active.submit(wire);
      if (sent.length > 0) {
        const flight = sent;
        queueMicrotask(() => this.serve(flight, reply));
      }
    };
    return { queue, pulse };
  }

  on(): this {
    return this;
  }

  async end(): Promise<void> {}

  private async run(
    text: string,
  ): Promise<{ rows: Record<string, unknown>[] }> {
    this.statements.push(text);
    if (
      text.includes("pg_current_wal_lsn()") ||
      text.includes("pg_current_wal_insert_lsn()")
    )
      return { rows: [{ lsn: this.lsn }] };
    const a = this.answer(text);
    if ("error" in a) throw a.error;
    return { rows: a.rows ?? [] };
  }

  /** Runs one flight as the server would, replying message by message. */
  private serve(sent: Sent[], reply: (r: Reply) => void): void {
    const flight: SentStatement[] = [];
    this.flights.push(flight);
    let unnamed = "";
    let bound: SentStatement | null = null;
    let described = false;
    let skipping = false;
    const fail = (error: Error) => {
      reply({ kind: "error", error });
      skipping = true;
    };
    for (const m of sent) {
      if (m.kind === "sync") {
        skipping = false;
        reply({ kind: "ready" });
        continue;
      }
      if (skipping) continue;
      if (m.kind === "parse") {
        if (m.name === "") unnamed = m.text;
        else if (this.named.has(m.name))
          fail(
            serverError(
              "42P05",
              `prepared statement "${m.name}" already exists`,
            ),
          );
        else this.named.set(m.name, m.text);
      } else if (m.kind === "bind") {
        const text = m.statement === "" ? unnamed : this.named.get(m.statement);
        if (text === undefined)
          fail(
            serverError(
              "26000",
              `prepared statement "${m.statement}" does not exist`,
            ),
          );
        else bound = { text, statement: m.statement, values: m.values };
        described = false;
      } else if (m.kind === "describe") described = true;
      else if (bound !== null) {
        const st = bound;
        flight.push(st);
        this.statements.push(st.text);
        if (st.text.includes("pg_current_wal_insert_lsn()")) {
          if (this.positionError !== null) {
            fail(this.positionError);
            this.positionError = null;
            continue;
          }
          reply({ kind: "row", values: [this.lsn] });
          reply({ kind: "done", tag: "SELECT 1" });
          continue;
        }
        const a = this.answer(st.text);
        if ("error" in a) {
          fail(a.error);
          continue;
        }
        if (described && a.rows !== undefined && a.rows.length > 0) {
          const names = Object.keys(a.rows[0]!);
          reply({
            kind: "fields",
            fields: names.map((name) => ({
              name,
              dataTypeID: 25,
              format: "text",
            })),
          });
          for (const row of a.rows)
            reply({ kind: "row", values: names.map((n) => String(row[n])) });
        }
        reply({ kind: "done", tag: a.tag ?? st.text.split(" ")[0]! });
      }
    }
  }
}

/** A reply of the fake server. */
type Reply =
  | { kind: "fields"; fields: unknown[] }
  | { kind: "row"; values: unknown[] }
  | { kind: "done"; tag: string }
  | { kind: "error"; error: Error }
  | { kind: "ready" };

/** An error as pg reports a server's ErrorResponse (a SQLSTATE in `code`). */
export function serverError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code, severity: "ERROR" });
}

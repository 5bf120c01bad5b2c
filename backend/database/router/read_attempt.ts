import type { Clock } from "./clock";
import type { DbNode } from "./db_node";
import { classifyPgError } from "./pg_errors";
import type { PgClient } from "./pg_pool";

type Row = Record<string, unknown>;

/**
 * Why an attempt was given up before it answered:
 * - `lost`: a hedged read answered first on another node; the node is alive,
 *   so the query is cancelled on the server and the connection kept;
 * - `stalled`: the node stopped answering; the connection is destroyed so
 *   its pool slot frees at once (a frozen server cannot cancel anything).
 */
export type AbortReason = "lost" | "stalled";

/** How an attempt ended. Never rejects, so an abandoned attempt cannot raise an unhandled rejection. */
export type AttemptOutcome =
  | { readonly ok: true; readonly rows: Row[] }
  | { readonly ok: false; readonly error: unknown; readonly aborted: null }
  | { readonly ok: false; readonly error: null; readonly aborted: AbortReason };

/**
 * One read on one replica that can be abandoned while it runs: it checks a
 * connection out of the node's pool itself (rather than `pool.query`) so it
 * holds the connection and its backend pid, and registers with the node so
 * the stall watch sees how long it has been outstanding.
 */
export class ReadAttempt {
  /** Clock time (ms) the attempt got its connection slot and went to the node. */
  startedAtMs = 0;
  /** Settles when the node answers, fails, or the attempt is aborted, whichever is first. */
  readonly outcome: Promise<AttemptOutcome>;
  private settle!: (o: AttemptOutcome) => void;
  private settled = false;
  private client: PgClient | null = null;
  private released = false;
  /** Holds one of the node's admission slots. */
  private slotHeld = false;
  private abortReason: AbortReason | null = null;

  constructor(
    readonly node: DbNode,
    sql: string,
    params: unknown[],
    private readonly clock: Clock,
  ) {
    this.outcome = new Promise((resolve) => (this.settle = resolve));
    void this.run(sql, params);
  }

  /** True once the outcome is known. */
  get done(): boolean {
    return this.settled;
  }

  /**
   * Gives the attempt up: its outcome settles now as aborted. A `lost`
   * query is cancelled on the server (`pg_cancel_backend`, best effort);
   * a `stalled` one has its connection destroyed. A `stalled` abort may
   * follow a `lost` one (the cancel never arrived).
   */
  abort(reason: AbortReason): void {
    if (this.released) return;
    if (this.abortReason === reason || this.abortReason === "stalled") return;
    this.abortReason = reason;
    this.finish({ ok: false, error: null, aborted: reason });
    const client = this.client;
    if (client === null) {
      // Still connecting: the connection is released unused if it ever
      // arrives. A stalled node may hold the connect attempt until
      // DB_CONNECTION_TIMEOUT; the read's slot need not wait for it.
      if (reason === "stalled") {
        this.node.endAttempt(this);
        this.releaseSlot();
      }
      return;
    }
    if (reason === "lost" && typeof client.processID === "number") {
      // The node answers, so ask it to stop; the query then fails with 57014
      // and the connection goes back to the pool in working order.
      this.node.pool
        .query("SELECT pg_cancel_backend($1)", [client.processID])
        .catch(() => undefined);
    } else {
      this.release(
        client,
        new Error(`read attempt on ${this.node.name} abandoned: ${reason}`),
      );
      // The connection is gone from the pool now; its query may not settle
      // until TCP gives up on a silent peer, so the slot is freed here.
      this.node.endAttempt(this);
      this.releaseSlot();
    }
  }

  private async run(sql: string, params: unknown[]): Promise<void> {
    try {
      const wait = this.node.admission.acquire();
      if (wait !== undefined) await wait;
      this.slotHeld = true;
    } catch (error) {
      this.finish({ ok: false, error, aborted: null });
      return;
    }
    // Outstanding on the node from here: time spent waiting for a slot is
    // our queue's, not the node's, and must not make it look stalled.
    if (this.abortReason === null && this.node.stall !== null) {
      // The node stalled while this read waited for a slot: go elsewhere.
      this.abortReason = "stalled";
      this.finish({ ok: false, error: null, aborted: "stalled" });
    }
    if (this.abortReason === null) {
      this.startedAtMs = this.clock.now();
      this.node.beginAttempt(this);
    }
    try {
      if (this.abortReason === null) await this.runAdmitted(sql, params);
    } finally {
      // Outstanding until its connection is back: a `lost` read cancelled on
      // a node that cannot answer still holds a slot, and the stall watch
      // must see it to abandon it.
      this.node.endAttempt(this);
      this.releaseSlot();
    }
  }

  private async runAdmitted(sql: string, params: unknown[]): Promise<void> {
    let client: PgClient;
    try {
      client = await this.node.pool.connect();
    } catch (error) {
      this.finish({ ok: false, error, aborted: null });
      return;
    }
    if (this.abortReason !== null) {
      // Abandoned while connecting: the connection never ran the query.
      this.release(client, undefined);
      return;
    }
    this.client = client;
    // Errors of the connection surface through the query below; the listener
    // only keeps an 'error' event of a dying connection from being unhandled.
    client.on?.("error", ignoreConnectionError);
    try {
      const { rows } = await client.query(sql, params);
      this.node.answered();
      this.release(client, undefined);
      this.finish({ ok: true, rows });
    } catch (error) {
      const nodeFault = classifyPgError(error) === "node";
      if (!nodeFault) this.node.answered();
      // A connection that failed at the node level is not reused.
      this.release(client, nodeFault ? (error as Error) : undefined);
      this.finish({ ok: false, error, aborted: null });
    }
  }

  private finish(o: AttemptOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(o);
  }

  private releaseSlot(): void {
    if (!this.slotHeld) return;
    this.slotHeld = false;
    this.node.admission.release();
  }

  private release(client: PgClient, destroy: Error | undefined): void {
    if (this.released) return;
    this.released = true;
    client.release(destroy);
    // Removed after release: pg-pool attaches its idle listener on release,
    // and a destroyed connection may still report its end.
    if (destroy === undefined) client.off?.("error", ignoreConnectionError);
  }
}

function ignoreConnectionError(): void {}

import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import { classifyPgError } from "../nodes/pg_errors";
import type { PgClient } from "../nodes/pg_pool";

type Row = Record<string, unknown>;

/**
 * Why an attempt was given up before it answered:
 * - `lost`: a hedged read answered first on another node;
 * - `stalled`: the node stopped answering, or left the serving set (stalled,
 *   promoted, removed) while the read waited for a slot.
 * Either way its connection is destroyed (so it can never go back to the
 * pool with a cancel on its way), and a `lost` query on a live node is also
 * cancelled on the server.
 */
export type AbortReason = "lost" | "stalled";

/** Who hears how an attempt ended (once; synchronously from {@link ReadAttempt.abort}). */
export interface AttemptOwner {
  attemptSettled(
    attempt: ReadAttempt,
    rows: Row[] | null,
    error: unknown,
    aborted: AbortReason | null,
  ): void;
}

/**
 * One read on one replica that can be abandoned while it runs: it takes an
 * admission slot, checks a connection out of the node's pool itself (rather
 * than `pool.query`) so it holds the connection and its backend pid, and
 * registers with the node so the stall watch sees how long it has been
 * outstanding.
 */
export class ReadAttempt {
  /** Clock time (ms) the attempt got its connection slot and went to the node. */
  startedAtMs = 0;
  /** performance.now() when created, for the latency windows. */
  readonly t0 = performance.now();
  /** @internal links of the node's list of outstanding attempts. */
  listed = false;
  /** @internal */
  prevOnNode: ReadAttempt | null = null;
  /** @internal */
  nextOnNode: ReadAttempt | null = null;
  private settled = false;
  private client: PgClient | null = null;
  private released = false;
  private slotHeld = false;
  private abortReason: AbortReason | null = null;

  constructor(
    readonly node: DbNode,
    sql: string,
    params: unknown[],
    private readonly clock: Clock,
    private readonly owner: AttemptOwner,
  ) {
    void this.run(sql, params);
  }

  /** True once the outcome is known. */
  get done(): boolean {
    return this.settled;
  }

  /**
   * Gives the attempt up: its owner hears it now. The connection is
   * destroyed and the slot freed at once (a silent peer may never let the
   * query settle); a `lost` query on a node that answers is also cancelled
   * on the server, best effort, when a connection is idle to send it on.
   */
  abort(reason: AbortReason): void {
    if (this.released || this.abortReason !== null) return;
    this.abortReason = reason;
    this.finish(null, null, reason);
    const client = this.client;
    // Still connecting: the connection is released unused if it ever arrives.
    if (client === null) return this.detach();
    const pid = client.processID;
    this.release(
      client,
      new Error(`read attempt on ${this.node.name} abandoned: ${reason}`),
    );
    this.detach();
    if (
      reason === "lost" &&
      typeof pid === "number" &&
      this.node.stall === null &&
      this.node.pool.idleCount > 0
    ) {
      // The destroyed connection's backend keeps its pid until it notices
      // the closed socket, so this cancel cannot reach another read.
      this.node.pool
        .query("SELECT pg_cancel_backend($1)", [pid])
        .catch(() => undefined);
    }
  }

  private async run(sql: string, params: unknown[]): Promise<void> {
    try {
      const wait = this.node.admission.acquire();
      if (wait !== undefined) await wait;
      this.slotHeld = true;
    } catch (error) {
      this.finish(null, error, null);
      return;
    }
    if (this.abortReason !== null) return this.detach();
    if (!this.node.acceptsReads()) {
      // The node left the serving set while this read waited for a slot
      // (stalled, promoted, removed): the read goes elsewhere.
      this.abortReason = "stalled";
      this.finish(null, null, "stalled");
      return this.detach();
    }
    // Outstanding on the node from here: time spent waiting for a slot is
    // our queue's, not the node's, and must not make it look stalled.
    this.startedAtMs = this.clock.now();
    this.node.beginAttempt(this);
    try {
      await this.runAdmitted(sql, params);
    } finally {
      this.detach();
    }
  }

  private async runAdmitted(sql: string, params: unknown[]): Promise<void> {
    let client: PgClient;
    try {
      client = await this.node.pool.connect();
    } catch (error) {
      this.finish(null, error, null);
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
      this.finish(rows, null, null);
    } catch (error) {
      const nodeFault = classifyPgError(error) === "node";
      if (!nodeFault && this.abortReason === null) this.node.answered();
      // A connection that failed at the node level is not reused.
      this.release(client, nodeFault ? (error as Error) : undefined);
      this.finish(null, error, null);
    }
  }

  private finish(
    rows: Row[] | null,
    error: unknown,
    aborted: AbortReason | null,
  ): void {
    if (this.settled) return;
    this.settled = true;
    this.owner.attemptSettled(this, rows, error, aborted);
  }

  /** No longer outstanding on the node; its slot is free. Idempotent. */
  private detach(): void {
    this.node.endAttempt(this);
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

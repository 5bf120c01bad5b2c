import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import { classifyPgError } from "../nodes/pg_errors";
import type { PgClient } from "../nodes/pg_pool";

type Row = Record<string, unknown>;

/**
 * Why an attempt was given up before it answered:
 * - `lost`: a hedged read answered first on another node. The caller stops
 *   waiting, but the query runs on: when it ends its connection goes back to
 *   the pool whole and its slot is freed (a hedge costs the duplicate query,
 *   never a reconnect or a cancel statement, and the node is never given more
 *   statements than it has slots);
 * - `stalled`: the node stopped answering, or left the serving set (stalled,
 *   promoted, removed) while the read waited for a slot. The connection is
 *   destroyed and the slot freed at once (a silent peer may never answer),
 *   also for an attempt already `lost`.
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
  /** A `lost` attempt answered after all (its latency still tells about its node). */
  lostAttemptAnswered?(attempt: ReadAttempt): void;
}

/**
 * One read on one replica that can be abandoned while it runs: it takes an
 * admission slot, checks a connection out of the node's pool itself (rather
 * than `pool.query`) so a stalled read's connection can be destroyed, and
 * registers with the node so the stall watch sees how long it has been
 * outstanding (a `lost` attempt stays registered until it ends: it still
 * holds a connection there).
 */
export class ReadAttempt {
  /** Clock time (ms) the attempt got its connection slot and went to the node. */
  startedAtMs = 0;
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
   * Gives the attempt up: its owner hears it now (once, whatever the reason).
   * `lost` leaves the query running to its end, connection and slot held
   * until then; `stalled` destroys the connection and frees the slot at once
   * (a silent peer may never let the query settle), including those of an
   * attempt already `lost`.
   */
  abort(reason: AbortReason): void {
    if (reason === "lost") {
      if (this.abortReason !== null) return;
      this.abortReason = "lost";
      this.finish(null, null, "lost");
      return;
    }
    if (this.released || this.abortReason === "stalled") return;
    this.abortReason = "stalled";
    this.finish(null, null, "stalled");
    const client = this.client;
    // Still connecting: the connection is released unused if it ever arrives.
    if (client !== null)
      this.release(
        client,
        new Error(`read attempt on ${this.node.name} abandoned: stalled`),
      );
    this.detach();
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
      // Abandoned while connecting: the connection never ran the query
      // (a `lost` attempt's slot is freed now, in `run`'s finally).
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
      if (this.abortReason === "lost") this.owner.lostAttemptAnswered?.(this);
      else this.finish(rows, null, null);
    } catch (error) {
      const nodeFault = classifyPgError(error) === "node";
      if (!nodeFault && this.abortReason !== "stalled") this.node.answered();
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

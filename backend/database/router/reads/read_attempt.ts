import type { Clock } from "../support/clock";
import type { DbNode } from "../nodes/db_node";
import type { OverloadedError } from "../base/errors";
import type { AdmissionWaiter } from "../limits/node_admission";
import { classifyPgError } from "../base/pg_errors";
import type { PgClient } from "../nodes/pg_pool";
import { GuardedRead, ReplayGuardMiss } from "../nodes/guarded_read";
import { serializeParams } from "../nodes/pipelined_write";

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
 * pg's callback forms of `connect` and `query`, which a real `pg.Pool` and
 * its clients take (returning nothing): a read then costs no Promise on
 * pg's side, as `pool.query` does not. A pool with only the Promise forms of
 * `PgPool` (the fakes of unit tests) ignores the callback and returns a
 * Promise, which is used instead.
 */
interface CallbackForms {
  connect(
    callback: (err: Error | undefined, client: PgClient) => void,
  ): PromiseLike<PgClient> | undefined;
  query(
    text: string,
    values: unknown[],
    callback: (err: Error | null, result: { rows: Row[] }) => void,
  ): PromiseLike<{ rows: Row[] }> | undefined;
}

/**
 * One read on one replica that can be abandoned while it runs: it takes an
 * admission slot, checks a connection out of the node's pool itself (rather
 * than `pool.query`) so a stalled read's connection can be destroyed, and
 * registers with the node so the stall watch sees how long it has been
 * outstanding (a `lost` attempt stays registered until it ends: it still
 * holds a connection there).
 *
 * Driven by callbacks (admission, pg's connect and query), not async
 * functions: no Promise per step on the read path.
 */
export class ReadAttempt implements AdmissionWaiter {
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
  private connectHeard = false;
  private queryHeard = false;
  private released = false;
  private slotHeld = false;
  private abortReason: AbortReason | null = null;

  constructor(
    readonly node: DbNode,
    private readonly sql: string,
    private readonly params: unknown[],
    private readonly clock: Clock,
    private readonly owner: AttemptOwner,
    /**
     * A read-your-writes token's position not yet known replayed here:
     * checked in the read's own round trip (see nodes/guarded_read.ts);
     * 0n = none. Only on nodes whose pool is a real `pg.Pool`.
     */
    private readonly guard = 0n,
  ) {
    let now: boolean;
    try {
      now = node.admission.enter(this);
    } catch (error) {
      this.finish(null, error, null);
      return;
    }
    if (now) this.admitted();
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

  /** @internal see {@link AdmissionWaiter}: the slot is ours; connect. */
  admitted(): void {
    this.slotHeld = true;
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
    let pending: PromiseLike<PgClient> | undefined;
    try {
      pending = (this.node.pool as unknown as CallbackForms).connect(
        (err, client) =>
          err ? this.connectFailed(err) : this.connected(client),
      );
    } catch (error) {
      return this.connectFailed(error);
    }
    if (pending !== undefined)
      pending.then(
        (client) => this.connected(client),
        (error: unknown) => this.connectFailed(error),
      );
  }

  /** @internal see {@link AdmissionWaiter}: no slot within the queue timeout. */
  refused(error: OverloadedError): void {
    this.finish(null, error, null);
  }

  private connectFailed(error: unknown): void {
    if (this.connectHeard) return;
    this.connectHeard = true;
    this.finish(null, error, null);
    this.detach();
  }

  private connected(client: PgClient): void {
    if (this.connectHeard) return;
    this.connectHeard = true;
    if (this.abortReason !== null) {
      // Abandoned while connecting: the connection never ran the query
      // (a `lost` attempt's slot is freed now).
      this.release(client, undefined);
      return this.detach();
    }
    this.client = client;
    // Errors of the connection surface through the query below; the listener
    // only keeps an 'error' event of a dying connection from being unhandled.
    client.on?.("error", ignoreConnectionError);
    if (this.guard !== 0n) return this.sendGuarded(client);
    let pending: PromiseLike<{ rows: Row[] }> | undefined;
    try {
      pending = (client as unknown as CallbackForms).query(
        this.sql,
        this.params,
        (err, result) => (err ? this.failed(err) : this.succeeded(result)),
      );
    } catch (error) {
      return this.failed(error);
    }
    if (pending !== undefined)
      pending.then(
        (result) => this.succeeded(result),
        (error: unknown) => this.failed(error),
      );
  }

  /** The replay check and the read in one flight; a miss fails the attempt with a `ReplayGuardMiss`. */
  private sendGuarded(client: PgClient): void {
    try {
      const read = new GuardedRead(
        this.sql,
        serializeParams(this.params),
        this.guard,
        (err, rows, replayed) => {
          if (replayed !== null) this.node.noteReplayed(replayed);
          if (err instanceof ReplayGuardMiss)
            this.node.noteMiss(err, this.guard);
          else if (err === null) this.node.noteCaughtUp();
          if (err) this.failed(err);
          else this.succeeded({ rows: rows! });
        },
      );
      (client as unknown as { query(s: GuardedRead): unknown }).query(read);
    } catch (error) {
      this.failed(error);
    }
  }

  private succeeded(result: { rows: Row[] }): void {
    if (this.queryHeard) return;
    this.queryHeard = true;
    this.node.answered(this.clock.now() - this.startedAtMs);
    this.release(this.client!, undefined);
    if (this.abortReason === "lost") this.owner.lostAttemptAnswered?.(this);
    else this.finish(result.rows, null, null);
    this.detach();
  }

  private failed(error: unknown): void {
    if (this.queryHeard) return;
    this.queryHeard = true;
    const nodeFault = classifyPgError(error) === "node";
    if (!nodeFault && this.abortReason !== "stalled")
      this.node.answered(this.clock.now() - this.startedAtMs);
    // A connection that failed at the node level is not reused.
    this.release(this.client!, nodeFault ? (error as Error) : undefined);
    this.finish(null, error, null);
    this.detach();
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
    // Going back whole: our listener comes off first, as in pg-pool's own
    // `query` (pg-pool attaches its idle listener within release(), so no
    // event falls between, and the client never holds two listeners). A
    // destroyed connection keeps it: it may still report its end.
    if (destroy === undefined) client.off?.("error", ignoreConnectionError);
    client.release(destroy);
  }
}

function ignoreConnectionError(): void {}

import type {
  PgClient,
  PgPool,
} from "../../../backend/database/router/nodes/pg_pool";
import type { HedgeTimers } from "../../../backend/database/router/reads/hedge_schedule";
import { DbNode } from "../../../backend/database/router/nodes/db_node";
import {
  asReplica,
  type ReplicaNode,
} from "../../../backend/database/router/nodes/replica_node";
import { ManualClock } from "../../../backend/database/router/support/clock";

type Rows = Record<string, unknown>[];

/** A statement running on a checked-out connection, settled by the test. */
export interface RunningQuery {
  readonly sql: string;
  answer(rows: Rows): void;
  fail(err: Error): void;
}

/**
 * A pool whose connections and queries the test settles by hand, recording
 * what a read did to its connection: `released` holds each `release()`
 * argument (undefined = returned whole, an Error = destroyed), `side` every
 * statement sent through `pool.query` (a cancel would show there), `opened`
 * every connection handed out.
 */
export class ControlledPool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  /** Hand out connections at once (else {@link giveConnection} does). */
  autoConnect = true;
  opened = 0;
  readonly released: Array<Error | boolean | undefined> = [];
  readonly side: string[] = [];
  /** Queries on checked-out connections, oldest first, not yet settled. */
  readonly running: RunningQuery[] = [];
  private readonly waitingConnects: Array<(c: PgClient) => void> = [];

  async query(text: string, values?: unknown[]) {
    this.side.push(`${text} ${JSON.stringify(values ?? [])}`);
    return { rows: [] };
  }

  connect(): Promise<PgClient> {
    if (this.autoConnect) return Promise.resolve(this.newClient());
    return new Promise((resolve) => this.waitingConnects.push(resolve));
  }

  /** Lets the oldest pending connect succeed. */
  giveConnection(): void {
    this.waitingConnects.shift()!(this.newClient());
  }

  /** Answers the oldest running query (or the one at `index`). */
  answer(rows: Rows, index = 0): void {
    this.running.splice(index, 1)[0]!.answer(rows);
  }

  on(): this {
    return this;
  }

  async end(): Promise<void> {}

  private newClient(): PgClient {
    this.opened++;
    let mine: RunningQuery | null = null;
    return {
      query: (sql: string) =>
        new Promise<{ rows: Rows }>((resolve, reject) => {
          mine = { sql, answer: (rows) => resolve({ rows }), fail: reject };
          this.running.push(mine);
        }),
      release: (destroy) => {
        this.released.push(destroy);
        const i = mine === null ? -1 : this.running.indexOf(mine);
        // A destroyed connection's query fails, as pg's does.
        if (destroy instanceof Error && i >= 0)
          this.running.splice(i, 1)[0]!.fail(
            Object.assign(new Error("Connection terminated"), {
              code: "ECONNRESET",
            }),
          );
      },
      processID: 4242,
    };
  }
}

/** A healthy replica over `pool` with `slots` connection slots. */
export function healthyReplica(
  name: string,
  pool: PgPool,
  slots = 2,
  clock = new ManualClock(),
): ReplicaNode {
  const node = asReplica(
    new DbNode(name, "main", "replica", `${name}:1/db`, pool, 1, {
      clock,
      failureThreshold: 3,
      breakerOpenDurationMs: 30_000,
      breakerSuccessThreshold: 5,
      lagThresholds: { warningSeconds: 5, criticalSeconds: 10 },
      maxConnections: slots,
      queueMax: 1,
      queueTimeoutMs: 1_000,
    }),
  );
  node.health.recordProbe({ ok: true, inRecovery: true }, null);
  return node;
}

/** Monotonic time and timers that move only when told to. */
export class ManualTimers implements HedgeTimers {
  private t = 0;
  /** Timers set so far (armed, fired or cleared). */
  setCount = 0;
  private readonly pending = new Set<{ fn: () => void; at: number }>();

  now(): number {
    return this.t;
  }

  set(fn: () => void, ms: number): unknown {
    this.setCount++;
    const h = { fn, at: this.t + ms };
    this.pending.add(h);
    return h;
  }

  clear(handle: unknown): void {
    this.pending.delete(handle as { fn: () => void; at: number });
  }

  /** Timers armed now. */
  get armed(): number {
    return this.pending.size;
  }

  /** Moves time on by `ms`, firing the timers that fall due, in order. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = [...this.pending]
        .filter((h) => h.at <= until)
        .sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.pending.delete(due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = until;
  }
}

/** Lets pending promise callbacks run (one turn of the event loop). */
export const settle = () => new Promise<void>((r) => setImmediate(r));

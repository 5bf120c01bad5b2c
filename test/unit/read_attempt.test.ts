/**
 * ReadAttempt's bookkeeping on every path: the owner hears the outcome
 * once, the admission slot and the node's list of outstanding attempts are
 * released exactly once, and an abandoned connection never goes back to the
 * pool in use.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { DbNode } from "../../backend/database/router/nodes/db_node";
import type {
  PgClient,
  PgPool,
} from "../../backend/database/router/nodes/pg_pool";
import {
  ReadAttempt,
  type AbortReason,
  type AttemptOwner,
} from "../../backend/database/router/reads/read_attempt";

/** A pool whose connect and query outcomes the test settles by hand. */
class ControlledPool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  readonly released: Array<Error | boolean | undefined> = [];
  readonly side: string[] = [];
  private connectResolve: ((c: PgClient) => void) | null = null;
  private queryResolve:
    ((r: { rows: Record<string, unknown>[] }) => void) | null = null;
  readonly client: PgClient = {
    query: () =>
      new Promise((resolve) => {
        this.queryResolve = resolve;
      }),
    release: (destroy) => void this.released.push(destroy),
    processID: 4242,
  };
  async query(text: string, values?: unknown[]) {
    this.side.push(`${text} ${JSON.stringify(values ?? [])}`);
    return { rows: [] };
  }
  connect(): Promise<PgClient> {
    return new Promise((resolve) => {
      this.connectResolve = resolve;
    });
  }
  /** Lets the pending connect succeed. */
  giveConnection(): void {
    this.connectResolve!(this.client);
  }
  /** Lets the pending query answer. */
  answer(rows: Record<string, unknown>[]): void {
    this.queryResolve!({ rows });
  }
  on(): this {
    return this;
  }
  async end(): Promise<void> {}
}

function healthyReplica(pool: PgPool, slots = 2): DbNode {
  const node = new DbNode("replica_1", "main", "replica", "h:1/db", pool, 1, {
    clock: new ManualClock(),
    failureThreshold: 3,
    breakerOpenDurationMs: 30_000,
    breakerSuccessThreshold: 5,
    lagThresholds: { warningSeconds: 5, criticalSeconds: 10 },
    maxConnections: slots,
    queueMax: 1,
    queueTimeoutMs: 1_000,
  });
  node.health.recordProbe({ ok: true, inRecovery: true }, null);
  return node;
}

function recorder(): AttemptOwner & {
  outcomes: Array<{
    rows: unknown;
    aborted: AbortReason | null;
    error: unknown;
  }>;
} {
  const outcomes: Array<{
    rows: unknown;
    aborted: AbortReason | null;
    error: unknown;
  }> = [];
  return {
    outcomes,
    attemptSettled: (_a, rows, error, aborted) =>
      void outcomes.push({ rows, aborted, error }),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

describe("ReadAttempt", () => {
  it("answers once, returns its connection whole and frees its slot", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool);
    const owner = recorder();
    new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    expect(node.admission.active).toBe(1);
    pool.giveConnection();
    await tick();
    expect(node.attemptCount).toBe(1);
    pool.answer([{ one: 1 }]);
    await tick();
    expect(owner.outcomes).toEqual([
      { rows: [{ one: 1 }], aborted: null, error: null },
    ]);
    expect(pool.released).toEqual([undefined]);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);
  });

  it("a lost attempt is settled at once, its connection destroyed (never returned in use), its slot freed, the query cancelled", async () => {
    const pool = new ControlledPool();
    pool.idleCount = 1;
    const node = healthyReplica(pool);
    const owner = recorder();
    const a = new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    pool.giveConnection();
    await tick();
    a.abort("lost");
    expect(owner.outcomes).toEqual([
      { rows: null, aborted: "lost", error: null },
    ]);
    expect(pool.released).toHaveLength(1);
    expect(pool.released[0]).toBeInstanceOf(Error);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);
    expect(pool.side).toEqual(["SELECT pg_cancel_backend($1) [4242]"]);
    // The late answer changes nothing.
    pool.answer([{ one: 1 }]);
    await tick();
    expect(owner.outcomes).toHaveLength(1);
    expect(pool.released).toHaveLength(1);
  });

  it("stalled while connecting: slot freed at once; the connection, if it ever comes, goes back unused", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool);
    const owner = recorder();
    const a = new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    a.abort("stalled");
    expect(owner.outcomes).toEqual([
      { rows: null, aborted: "stalled", error: null },
    ]);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);
    pool.giveConnection();
    await tick();
    expect(pool.released).toEqual([undefined]);
    expect(node.admission.active).toBe(0);
  });

  it("a node that left the serving set while the read waited for a slot is not read from", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool, 1);
    const first = recorder();
    new ReadAttempt(node, "SELECT 1", [], new ManualClock(), first);
    await tick();
    const second = recorder();
    new ReadAttempt(node, "SELECT 2", [], new ManualClock(), second);
    await tick();
    expect(node.admission.queued).toBe(1);
    // The node is promoted (or stalls) while the second read waits.
    node.health.recordProbe({ ok: true, inRecovery: false }, null);
    pool.giveConnection();
    await tick();
    pool.answer([]);
    await tick();
    await tick();
    expect(second.outcomes).toEqual([
      { rows: null, aborted: "stalled", error: null },
    ]);
    expect(node.admission.active).toBe(0);
    expect(node.admission.queued).toBe(0);
  });

  it("a full queue refuses at once with an OverloadedError", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool, 1);
    for (let i = 0; i < 2; i++)
      new ReadAttempt(node, "SELECT 1", [], new ManualClock(), recorder());
    const owner = recorder();
    new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    expect(owner.outcomes).toHaveLength(1);
    expect((owner.outcomes[0]!.error as { why?: string }).why).toBe(
      "queue_full",
    );
  });
});

/**
 * ReadAttempt's bookkeeping on every path: the owner hears the outcome
 * once, the admission slot and the node's list of outstanding attempts are
 * released exactly once, an abandoned connection never goes back to the
 * pool in use, and a hedge's loser costs nothing but its query: it runs to
 * its end, returns its connection whole and holds its slot until then.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import type { PgPool } from "../../backend/database/router/nodes/pg_pool";
import {
  ReadAttempt,
  type AbortReason,
  type AttemptOwner,
} from "../../backend/database/router/reads/read_attempt";
import {
  ControlledPool,
  healthyReplica as replica,
  settle as tick,
} from "./helpers/controlled_pool";

const healthyReplica = (pool: PgPool, slots = 2) =>
  replica("replica_1", pool, slots);

/** A pool that hands out connections only when told (giveConnection). */
function manualPool(): ControlledPool {
  const pool = new ControlledPool();
  pool.autoConnect = false;
  return pool;
}

function recorder(): AttemptOwner & {
  outcomes: Array<{
    rows: unknown;
    aborted: AbortReason | null;
    error: unknown;
  }>;
  lateAnswers: number;
} {
  const owner = {
    outcomes: [] as Array<{
      rows: unknown;
      aborted: AbortReason | null;
      error: unknown;
    }>,
    lateAnswers: 0,
    attemptSettled: (
      _a: ReadAttempt,
      rows: unknown,
      error: unknown,
      aborted: AbortReason | null,
    ) => void owner.outcomes.push({ rows, aborted, error }),
    lostAttemptAnswered: () => void owner.lateAnswers++,
  };
  return owner;
}

describe("ReadAttempt", () => {
  it("answers once, returns its connection whole and frees its slot", async () => {
    const pool = manualPool();
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

  it("a lost attempt is settled at once, but its query runs to its end: no destroyed connection, no cancel, slot held until then", async () => {
    const pool = manualPool();
    pool.idleCount = 1; // a connection free to send a cancel on: none is sent
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
    // Still running on the node: connection checked out, slot held, listed.
    expect(pool.released).toEqual([]);
    expect(node.admission.active).toBe(1);
    expect(node.attemptCount).toBe(1);
    expect(pool.side).toEqual([]);
    // Its answer returns the connection whole and frees the slot.
    pool.answer([{ one: 1 }]);
    await tick();
    expect(pool.released).toEqual([undefined]);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);
    expect(pool.side).toEqual([]);
    expect(pool.opened).toBe(1);
    // The owner heard the outcome once, and of the late answer.
    expect(owner.outcomes).toHaveLength(1);
    expect(owner.lateAnswers).toBe(1);
  });

  it("a lost attempt whose query fails later returns a healthy connection and frees its slot then", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool);
    const owner = recorder();
    const a = new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    a.abort("lost");
    expect(node.admission.active).toBe(1);
    pool.running[0]!.fail(
      Object.assign(new Error("division by zero"), { code: "22012" }),
    );
    await tick();
    expect(pool.released).toEqual([undefined]);
    expect(node.admission.active).toBe(0);
    expect(owner.outcomes).toHaveLength(1);
  });

  it("a lost attempt the stall watch then abandons: connection destroyed and slot freed at once", async () => {
    const pool = new ControlledPool();
    const node = healthyReplica(pool);
    const owner = recorder();
    const a = new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    a.abort("lost");
    expect(node.admission.active).toBe(1);
    a.abort("stalled");
    expect(pool.released).toHaveLength(1);
    expect(pool.released[0]).toBeInstanceOf(Error);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);
    await tick();
    expect(owner.outcomes).toEqual([
      { rows: null, aborted: "lost", error: null },
    ]);
    expect(pool.side).toEqual([]);
  });

  it("lost while connecting: the slot is held until the connection arrives, which goes back unused", async () => {
    const pool = manualPool();
    const node = healthyReplica(pool);
    const owner = recorder();
    const a = new ReadAttempt(node, "SELECT 1", [], new ManualClock(), owner);
    await tick();
    a.abort("lost");
    expect(node.admission.active).toBe(1);
    pool.giveConnection();
    await tick();
    expect(pool.released).toEqual([undefined]);
    expect(pool.running).toEqual([]);
    expect(node.admission.active).toBe(0);
  });

  it("stalled while connecting: slot freed at once; the connection, if it ever comes, goes back unused", async () => {
    const pool = manualPool();
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
    const pool = manualPool();
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
    const pool = manualPool();
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

  it("uses pg's callback forms when the pool takes them (a real pg.Pool): same outcome, connection back whole or destroyed on a node fault", async () => {
    type Callback = (err: Error | null | undefined, value?: unknown) => void;
    const released: unknown[] = [];
    const answers: Array<(err: Error | null, rows?: unknown[]) => void> = [];
    // Like pg: a callback given, nothing returned; the client calls back later.
    const pool = {
      totalCount: 0,
      idleCount: 0,
      waitingCount: 0,
      query: () => Promise.resolve({ rows: [] }),
      connect: (cb: Callback) =>
        void process.nextTick(cb, undefined, {
          query: (_sql: string, _params: unknown[], done: Callback) =>
            void answers.push((err, rows) =>
              err ? done(err) : done(null, { rows }),
            ),
          release: (destroy?: unknown) => void released.push(destroy),
        }),
      on: () => undefined,
      end: () => Promise.resolve(),
    } as unknown as PgPool;
    const node = healthyReplica(pool);
    const ok = recorder();
    new ReadAttempt(node, "SELECT 1", [], new ManualClock(), ok);
    await tick();
    answers.shift()!(null, [{ one: 1 }]);
    expect(ok.outcomes).toEqual([
      { rows: [{ one: 1 }], aborted: null, error: null },
    ]);
    expect(released).toEqual([undefined]);
    expect(node.admission.active).toBe(0);
    expect(node.attemptCount).toBe(0);

    const failed = recorder();
    new ReadAttempt(node, "SELECT 1", [], new ManualClock(), failed);
    await tick();
    const reset = Object.assign(new Error("read ECONNRESET"), {
      code: "ECONNRESET",
    });
    answers.shift()!(reset);
    expect(failed.outcomes).toEqual([
      { rows: null, aborted: null, error: reset },
    ]);
    expect(released[1]).toBe(reset);
    expect(node.admission.active).toBe(0);
  });
});

/**
 * Hedged reads with controlled pools and manual timers: a hedge goes out
 * when one replica is frozen or much slower than its peer, never when both
 * are equally slow; the loser runs to its end and returns its connection
 * whole (no destroy, no reconnect, no cancel statement) and holds its slot
 * until then; hedges that keep losing pause; one timer, armed only while
 * reads wait, for the earliest of them.
 */
import { describe, expect, it } from "vitest";
import { EVENTUAL } from "../../backend/database/router/consistency/consistency";
import { DbNode } from "../../backend/database/router/nodes/db_node";
import type { ReplicaNode } from "../../backend/database/router/nodes/replica_node";
import { NodeCluster } from "../../backend/database/router/nodes/node_cluster";
import { HedgeBudget } from "../../backend/database/router/reads/hedge_budget";
import { HedgedReader } from "../../backend/database/router/reads/hedged_read";
import { RoundRobinSelector } from "../../backend/database/router/selection/round_robin_selector";
import { ManualClock } from "../../backend/database/router/support/clock";
import {
  ControlledPool,
  healthyReplica,
  ManualTimers,
  settle,
} from "./helpers/controlled_pool";

function setup(ratio = 0.05, slots = 4) {
  const clock = new ManualClock();
  const timers = new ManualTimers();
  const pools = { a: new ControlledPool(), b: new ControlledPool() };
  const a = healthyReplica("replica_1", pools.a, slots, clock);
  const b = healthyReplica("replica_2", pools.b, slots, clock);
  const primary = new DbNode(
    "primary",
    "main",
    "primary",
    "p",
    new ControlledPool(),
    1,
    {
      clock,
      failureThreshold: 3,
      breakerOpenDurationMs: 30_000,
      breakerSuccessThreshold: 5,
      lagThresholds: { warningSeconds: 5, criticalSeconds: 10 },
      maxConnections: 4,
      queueMax: 1,
      queueTimeoutMs: 1_000,
    },
  );
  const cluster = new NodeCluster(
    "main",
    primary,
    [a, b],
    new RoundRobinSelector(),
    {},
  );
  const budget = new HedgeBudget(ratio, 20);
  const reader = new HedgedReader(
    budget,
    {
      hedgeTarget: (c, _consistency, _endpoint, exclude) =>
        c.serving.find((n) => !exclude.includes(n))?.breaker.tryAcquire() ??
        undefined,
    },
    { minDelayMs: 10, maxDelayMs: 1_000, clock, timers },
  );
  const spec = {
    cluster,
    consistency: EVENTUAL,
    endpoint: "",
    tried: undefined,
  };
  /** Recent latencies: `msA(i)` on replica_1, `msB(i)` on replica_2, both in the cluster's window. */
  const warm = (msA: (i: number) => number, msB: (i: number) => number) => {
    for (let i = 0; i < 128; i++) {
      a.latency.record(msA(i));
      b.latency.record(msB(i));
      reader.window(cluster).record(msA(i));
      reader.window(cluster).record(msB(i));
    }
  };
  const read = async (first: ReplicaNode) => {
    const p = reader.read(spec, first.breaker.tryAcquire()!, "SELECT 1", []);
    await settle();
    return p;
  };
  return { timers, pools, a, b, cluster, budget, reader, warm, read };
}

describe("HedgedReader", () => {
  it("sends no hedge when both replicas are equally slow (load, not an outlier)", async () => {
    const { timers, pools, a, budget, reader, cluster, warm, read } = setup();
    // Both answer in 40-60 ms: the delay is their p99 (~60 ms).
    warm(
      (i) => 40 + (i % 21),
      (i) => 40 + ((i * 7) % 21),
    );
    const delay = reader.hedgeDelayMs(cluster)!;
    expect(delay).toBeGreaterThanOrEqual(59);
    const tokens = budget.available;
    const pending = read(a);
    await settle();
    timers.advance(delay + 30);
    await settle();
    expect(pools.b.running).toHaveLength(0);
    expect(pools.b.opened).toBe(0);
    expect(budget.available).toBe(tokens);
    pools.a.answer([{ ok: 1 }]);
    const result = await pending;
    expect(result.hedgedTo).toBeNull();
    expect(result.rows).toEqual([{ ok: 1 }]);
  });

  it("a first attempt refused at once (full queue) hands its breaker permit back with the failure", async () => {
    const { pools, a, reader, cluster } = setup(0.05, 1);
    const spec = {
      cluster,
      consistency: EVENTUAL,
      endpoint: "",
      tried: undefined,
    };
    // One read holds the only slot and one waits: the queue (1) is full.
    const holding = reader.read(spec, a.breaker.tryAcquire()!, "SELECT 1", []);
    const waiting = reader.read(spec, a.breaker.tryAcquire()!, "SELECT 1", []);
    await settle();
    const permit = a.breaker.tryAcquire()!;
    const refused = await reader.read(spec, permit, "SELECT 1", []);
    expect(refused.rows).toBeNull();
    expect(refused.failures).toHaveLength(1);
    expect(refused.failures[0]!.permit).toBe(permit);
    expect((refused.failures[0]!.error as Error).name).toBe("OverloadedError");
    pools.a.answer([{ ok: 1 }]);
    await holding;
    await settle();
    pools.a.answer([{ ok: 2 }]);
    await waiting;
  });

  it("hedges a read on a frozen replica to the one that answers; the frozen attempt keeps its slot until the stall watch destroys it", async () => {
    const { timers, pools, a, b, warm, read } = setup();
    warm(
      () => 1,
      () => 1,
    );
    const pending = read(a);
    timers.advance(9);
    await settle();
    expect(pools.b.running).toHaveLength(0); // not due before 10 ms
    timers.advance(1);
    await settle();
    expect(pools.b.running).toHaveLength(1);
    pools.b.answer([{ from: "b" }]);
    const result = await pending;
    expect(result.rows).toEqual([{ from: "b" }]);
    expect(result.hedgedTo).toBe(b);
    expect(result.failures.map((f) => [f.node.name, f.aborted])).toEqual([
      ["replica_1", "lost"],
    ]);
    // The loser is still on the frozen node: nothing destroyed or cancelled yet.
    expect(pools.a.released).toEqual([]);
    expect(pools.a.side).toEqual([]);
    expect(a.admission.active).toBe(1);
    // The stall watch confirms the stall: the connection goes, the slot is freed.
    for (const attempt of a.outstandingAttempts()) attempt.abort("stalled");
    expect(pools.a.released[0]).toBeInstanceOf(Error);
    expect(a.admission.active).toBe(0);
  });

  it("hedges a read on a replica much slower than its peer", async () => {
    const { timers, pools, a, b, reader, cluster, warm, read } = setup();
    warm(
      () => 200,
      () => 2,
    );
    const delay = reader.hedgeDelayMs(cluster)!;
    expect(delay).toBe(200);
    const pending = read(a);
    timers.advance(delay);
    await settle();
    expect(pools.b.running).toHaveLength(1);
    pools.b.answer([{ from: "b" }]);
    expect((await pending).hedgedTo).toBe(b);
  });

  it("a lost attempt that answers later returns its connection whole, frees its slot only then, and its latency is recorded", async () => {
    const { timers, pools, a, b, warm, read } = setup();
    warm(
      () => 1,
      () => 1,
    );
    const pending = read(a);
    timers.advance(10);
    await settle();
    pools.b.answer([{ from: "b" }]);
    await pending;
    expect(a.admission.active).toBe(1);
    expect(b.admission.active).toBe(0);
    const before = a.latency.percentile(1)!;
    timers.advance(290);
    pools.a.answer([{ from: "a" }]);
    await settle();
    expect(pools.a.released).toEqual([undefined]);
    expect(pools.b.released).toEqual([undefined]);
    expect(pools.a.opened + pools.b.opened).toBe(2);
    expect(pools.a.side).toEqual([]);
    expect(a.admission.active).toBe(0);
    expect(a.attemptCount).toBe(0);
    // The window now holds the 300 ms the loser took (recomputed per 32 samples).
    for (let i = 0; i < 32; i++) a.latency.record(1);
    expect(before).toBe(1);
    expect(a.latency.percentile(1)).toBe(300);
  });

  it("pauses hedging when hedges keep losing, and keeps hedging while they win", async () => {
    const { timers, pools, a, b, budget, warm, read } = setup();
    warm(
      () => 1,
      () => 1,
    );
    let hedges = 0;
    // The first node answers right after each hedge goes out: every hedge loses.
    for (let i = 0; i < 20; i++) {
      const pending = read(a);
      timers.advance(20);
      await settle();
      if (pools.b.running.length > 0) hedges++;
      pools.a.answer([]);
      await pending;
      if (pools.b.running.length > 0) pools.b.answer([]);
      await settle();
    }
    expect(hedges).toBe(budget.wasteBurst);
    expect(budget.available).toBeGreaterThanOrEqual(1); // load budget left: waste paused it
    expect(timers.armed).toBe(0);
    // Hedges that win (the first node much slower) give their waste token back.
    const fresh = setup();
    fresh.warm(
      () => 1,
      () => 1,
    );
    let won = 0;
    for (let i = 0; i < 15; i++) {
      const pending = fresh.read(fresh.a);
      fresh.timers.advance(20);
      await settle();
      if (fresh.pools.b.running.length > 0) {
        fresh.pools.b.answer([]);
        if ((await pending).hedgedTo === fresh.b) won++;
      }
      fresh.pools.a.answer([]); // the loser, later
      await settle();
    }
    expect(won).toBe(15);
    void b;
  });

  it("arms one timer for the earliest waiting read, none when no read waits, and none at all with hedging off", async () => {
    const { timers, pools, a, warm, read } = setup(0.05, 64);
    warm(
      () => 1,
      () => 1,
    );
    const reads = [];
    for (let i = 0; i < 50; i++) reads.push(read(a));
    await settle();
    expect(timers.setCount).toBe(1);
    for (let i = 0; i < 50; i++) pools.a.answer([]);
    await Promise.all(reads);
    // The timer fires for reads already gone and is not re-armed.
    timers.advance(10);
    expect(timers.armed).toBe(0);
    expect(timers.setCount).toBe(1);

    const off = setup(0);
    off.warm(
      () => 1,
      () => 1,
    );
    const pending = off.read(off.a);
    await settle();
    expect(off.timers.setCount).toBe(0);
    off.pools.a.answer([]);
    expect((await pending).hedgedTo).toBeNull();
  });
});

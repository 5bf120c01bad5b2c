/**
 * The stall watch with a manual clock: a replica with a read outstanding
 * past its deadline that answered nothing for as long becomes a suspect
 * (out of the serving set); a probe that answers clears it and leaves the
 * read running; a probe that fails abandons the node's outstanding reads.
 * A node that keeps answering is never suspected.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { DbNode } from "../../backend/database/router/nodes/db_node";
import { silentLogger } from "../../backend/database/router/support/logger";
import { NodeCluster } from "../../backend/database/router/nodes/node_cluster";
import type { PgPool } from "../../backend/database/router/nodes/pg_pool";
import type { ReadAttempt } from "../../backend/database/router/reads/read_attempt";
import { RoundRobinSelector } from "../../backend/database/router/selection/round_robin_selector";
import { StallWatch } from "../../backend/database/router/health/stall_watch";

const pool = {
  totalCount: 0,
  idleCount: 0,
  waitingCount: 0,
  query: async () => ({ rows: [] }),
  connect: async () => {
    throw new Error("not used");
  },
  on() {
    return this;
  },
  end: async () => undefined,
} as unknown as PgPool;

/** A stand-in for an outstanding read: records its abort. */
function fakeAttempt(startedAtMs: number) {
  const a = {
    startedAtMs,
    listed: false,
    prevOnNode: null,
    nextOnNode: null,
    aborted: null as string | null,
    abort(reason: string) {
      a.aborted = reason;
    },
  };
  return a;
}

function setup(probe: () => Promise<void>) {
  const clock = new ManualClock();
  const options = {
    clock,
    failureThreshold: 3,
    breakerOpenDurationMs: 30_000,
    breakerSuccessThreshold: 5,
    lagThresholds: { warningSeconds: 5, criticalSeconds: 10 },
    maxConnections: 5,
    queueMax: 5,
    queueTimeoutMs: 1_000,
  };
  const primary = new DbNode(
    "primary",
    "main",
    "primary",
    "p",
    pool,
    1,
    options,
  );
  const replica = new DbNode(
    "replica_1",
    "main",
    "replica",
    "r",
    pool,
    1,
    options,
    probe,
  );
  replica.health.recordProbe({ ok: true, inRecovery: true }, null);
  const cluster = new NodeCluster(
    "main",
    primary,
    [replica],
    new RoundRobinSelector(),
    {},
  );
  const watch = new StallWatch(() => [cluster], {
    minMs: 100,
    maxMs: 1_000,
    clock,
    logger: silentLogger,
  });
  /** One watch pass, then let its setImmediate and probe settle. */
  const pass = async () => {
    watch.tick();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { clock, replica, cluster, pass };
}

describe("StallWatch", () => {
  it("suspects a silent node, and a probe that answers clears it without abandoning its read", async () => {
    let probes = 0;
    const { clock, replica, cluster, pass } = setup(async () => {
      probes++;
    });
    const read = fakeAttempt(1);
    clock.set(1);
    replica.beginAttempt(read as unknown as ReadAttempt);
    clock.set(50);
    await pass();
    expect(probes).toBe(0); // within the 100 ms deadline
    clock.set(500);
    await pass(); // suspect: probed, and the probe answered
    expect(probes).toBe(1);
    expect(replica.stall).toBeNull();
    expect(read.aborted).toBeNull();
    expect(cluster.serving).toContain(replica);
  });

  it("a probe that fails confirms the stall and abandons the outstanding reads", async () => {
    const { clock, replica, cluster, pass } = setup(async () => {
      throw new Error("timeout");
    });
    const read = fakeAttempt(1);
    clock.set(1);
    replica.beginAttempt(read as unknown as ReadAttempt);
    clock.set(500);
    await pass();
    expect(replica.stall?.confirmed).toBe(true);
    expect(read.aborted).toBe("stalled");
    expect(cluster.serving).not.toContain(replica);
  });

  it("a node that keeps answering is not suspected, however old its oldest read", async () => {
    const { clock, replica, pass } = setup(async () => {
      throw new Error("would fail");
    });
    const read = fakeAttempt(1);
    clock.set(1);
    replica.beginAttempt(read as unknown as ReadAttempt);
    clock.set(2_000);
    replica.answered(); // other reads keep completing
    clock.set(2_050);
    await pass();
    expect(replica.stall).toBeNull();
    expect(read.aborted).toBeNull();
  });
});

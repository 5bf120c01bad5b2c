/**
 * The stall watch with a manual clock: a replica with a read outstanding
 * past its deadline that answered nothing for as long becomes a suspect
 * (out of the serving set); a probe that answers clears it and leaves the
 * read running; a probe that fails abandons the node's outstanding reads.
 * A node that keeps answering is never suspected. Silence is relative:
 * replicas silent alike are not suspected, all but one at most are out at
 * once for slowness (past the deadline ceiling a silent replica is down,
 * not slow, and goes anyway), and this process's own event-loop delay
 * stretches the deadline.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { DbNode } from "../../backend/database/router/nodes/db_node";
import { asReplica } from "../../backend/database/router/nodes/replica_node";
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

function setup(
  probe: () => Promise<void>,
  opts: { replicas?: number; loopDelayMs?: () => number } = {},
) {
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
  const replicas = Array.from({ length: opts.replicas ?? 1 }, (_, i) => {
    const r = asReplica(
      new DbNode(
        `replica_${i + 1}`,
        "main",
        "replica",
        "r",
        pool,
        1,
        options,
        probe,
      ),
    );
    r.health.recordProbe({ ok: true, inRecovery: true }, null);
    return r;
  });
  const replica = replicas[0]!;
  const cluster = new NodeCluster(
    "main",
    primary,
    replicas,
    new RoundRobinSelector(),
    {},
  );
  const watch = new StallWatch(() => [cluster], {
    minMs: 100,
    maxMs: 1_000,
    clock,
    logger: silentLogger,
    loop: { recentMaxMs: opts.loopDelayMs ?? (() => 0) },
  });
  /** One watch pass, then let its setImmediate and probe settle. */
  const pass = async () => {
    watch.tick();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  return { clock, replica, replicas, cluster, pass };
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

describe("StallWatch: silence is judged against the peers and this process", () => {
  it("two replicas silent alike (the machine is busy): neither is suspected, and it counts as withheld once", async () => {
    let probes = 0;
    const { clock, replicas, cluster, pass } = setup(
      async () => {
        probes++;
      },
      { replicas: 2 },
    );
    clock.set(1);
    for (const r of replicas)
      r.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    for (const t of [300, 600, 950]) {
      clock.set(t); // silent alike, within the 1 s deadline ceiling
      await pass();
    }
    expect(replicas.map((r) => r.stall)).toEqual([null, null]);
    expect(probes).toBe(0);
    expect(cluster.serving).toEqual(replicas);
    expect(replicas.map((r) => r.stallsWithheld)).toEqual([1, 1]);
  });

  it("one replica silent while its peer answers: the silent one is suspected", async () => {
    const { clock, replicas, cluster, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 2 },
    );
    const [frozen, live] = replicas as [DbNode, DbNode];
    clock.set(1);
    frozen.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    const done = fakeAttempt(1);
    live.beginAttempt(done as unknown as ReadAttempt);
    clock.set(495);
    // Its reads keep completing, and new ones start.
    live.endAttempt(done as unknown as ReadAttempt);
    live.answered();
    live.beginAttempt(fakeAttempt(495) as unknown as ReadAttempt);
    clock.set(500);
    await pass();
    expect(frozen.stall?.confirmed).toBe(true);
    expect(live.stall).toBeNull();
    expect(cluster.serving).toEqual([live]);
    expect(frozen.stallsSuspected).toBe(1);
    expect(frozen.stallsConfirmed).toBe(1);
  });

  it("at most all replicas but one are out for slowness; silent past the deadline ceiling, the last goes too", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 2 },
    );
    const [first, second] = replicas as [DbNode, DbNode];
    clock.set(1);
    first.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    second.beginAttempt(fakeAttempt(400) as unknown as ReadAttempt);
    clock.set(400);
    second.answered();
    clock.set(500);
    await pass(); // the first is the outlier: out
    expect(first.stall).not.toBeNull();
    clock.set(1_200); // the second silent too (800 ms), with no serving peer left
    await pass();
    expect(first.stall).not.toBeNull();
    expect(second.stall).toBeNull();
    expect(second.stallsWithheld).toBe(1);
    clock.set(1_500); // 1.1 s: past the 1 s ceiling, down rather than slow
    await pass();
    expect(second.stall).not.toBeNull();
  });

  it("two replicas of three frozen while the third answers: both are out", async () => {
    const { clock, replicas, cluster, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 3 },
    );
    const [a, b, live] = replicas as [DbNode, DbNode, DbNode];
    clock.set(1);
    a.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    b.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    clock.set(290);
    live.answered(); // idle now, after an answer 10 ms ago
    clock.set(300);
    await pass();
    expect([a.stall !== null, b.stall !== null, live.stall]).toEqual([
      true,
      true,
      null,
    ]);
    expect(cluster.serving).toEqual([live]);
  });

  it("an idle peer that answered long ago says nothing of the present: two replicas silent alike stay in", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("would fail");
      },
      { replicas: 3 },
    );
    const [a, b, idle] = replicas as [DbNode, DbNode, DbNode];
    clock.set(1);
    idle.answered();
    clock.set(100);
    a.beginAttempt(fakeAttempt(100) as unknown as ReadAttempt);
    b.beginAttempt(fakeAttempt(100) as unknown as ReadAttempt);
    clock.set(700); // silent 600 ms alike; the idle one last answered 699 ms ago
    await pass();
    expect([a.stall, b.stall, idle.stall]).toEqual([null, null, null]);
    expect([a.stallsWithheld, b.stallsWithheld]).toEqual([1, 1]);
  });

  it("every reader stuck on the frozen replica, the other idle: the idle one's role checks testify", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 2 },
    );
    const [frozen, idle] = replicas as [DbNode, DbNode];
    clock.set(1);
    frozen.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    clock.set(300);
    idle.reached(1); // its role check answered just now, in 1 ms; no read there
    clock.set(310);
    await pass();
    expect(frozen.stall).not.toBeNull();
    expect(idle.stall).toBeNull();
  });

  it("reads that hang while the node's own role checks answer: still silent, still suspected", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 2 },
    );
    const [hung, live] = replicas as [DbNode, DbNode];
    clock.set(1);
    hung.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    clock.set(495);
    hung.reached(1); // pg_is_in_recovery() answers on another connection
    live.answered();
    clock.set(500);
    await pass();
    expect(hung.stall).not.toBeNull();
  });

  it("a peer with one long report among quick reads still testifies", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { replicas: 2 },
    );
    const [frozen, busy] = replicas as [DbNode, DbNode];
    clock.set(1);
    busy.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt); // a long report
    frozen.beginAttempt(fakeAttempt(100) as unknown as ReadAttempt);
    clock.set(495);
    for (const t of [490, 492, 494])
      busy.beginAttempt(fakeAttempt(t) as unknown as ReadAttempt);
    busy.answered();
    clock.set(500); // frozen silent 400 ms, well under the 1 s ceiling
    await pass();
    expect(frozen.stall).not.toBeNull();
    expect(busy.stall).toBeNull();
  });

  it("a peer that answered just now, but slowly, is no evidence: replicas slowed alike stay in", async () => {
    const { clock, replicas, pass } = setup(
      async () => {
        throw new Error("would fail");
      },
      { replicas: 2 },
    );
    const [silent, slow] = replicas as [DbNode, DbNode];
    clock.set(100);
    silent.beginAttempt(fakeAttempt(100) as unknown as ReadAttempt);
    clock.set(495);
    slow.answered(350); // a read that took 350 ms, as long as the silence
    slow.reached(300); // and a role check that took 300 ms
    clock.set(500);
    await pass();
    expect(silent.stall).toBeNull();
    expect(silent.stallsWithheld).toBe(1);
  });

  it("reads a probe's answer vouched for (a long report) do not make the node silent again; a newer read can", async () => {
    let probes = 0;
    const { clock, replica, pass } = setup(async () => {
      probes++;
    });
    clock.set(1);
    replica.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    clock.set(500);
    await pass(); // suspected; the probe answers: cleared
    expect([probes, replica.stall, replica.stallsSuspected]).toEqual([
      1,
      null,
      1,
    ]);
    for (const t of [700, 900, 1_500]) {
      clock.set(t);
      await pass();
    }
    expect(replica.stallsSuspected).toBe(1); // the report runs on
    replica.beginAttempt(fakeAttempt(1_600) as unknown as ReadAttempt);
    clock.set(1_900);
    await pass();
    expect(replica.stallsSuspected).toBe(2); // a newer read went unanswered
  });

  it("this process's own event-loop delay stretches the deadline, but a frozen replica is still caught", async () => {
    const { clock, replica, pass } = setup(
      async () => {
        throw new Error("no answer");
      },
      { loopDelayMs: () => 300 },
    );
    clock.set(1);
    replica.beginAttempt(fakeAttempt(1) as unknown as ReadAttempt);
    clock.set(350); // past the 100 ms deadline, within 100 + 300
    await pass();
    expect(replica.stall).toBeNull();
    clock.set(500);
    await pass();
    expect(replica.stall).not.toBeNull();
  });
});

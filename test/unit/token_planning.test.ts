/**
 * How a read-your-writes read is planned when no replica is known to have
 * replayed its token (fake pools marked as able to pipeline; the flight
 * itself is tested against a real server in guarded_reads.test.ts): it
 * carries its replay check to a replica the strategy picks, passing over
 * one just found behind until a position past that token is seen there or
 * the window ends; a read that cannot carry the check waits for replay.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import type { Consistency } from "../../backend/database/router/consistency/consistency";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import { MAX_BEHIND_MS } from "../../backend/database/router/nodes/db_node";
import type { Choice } from "../../backend/database/router/read_planner";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { ManualClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";
import { FakePool } from "./helpers/fake_pool";

const routers: ReplicaRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close()));
});

async function setup(env: Record<string, string> = {}) {
  const clock = new ManualClock();
  const router = new ReplicaRouter(
    loadConfig({
      DATABASE_URL: "postgres://u:pw@primary:5432/app",
      READ_REPLICA_URLS:
        "postgres://u:pw@r1:5432/app,postgres://u:pw@r2:5432/app",
      ...env,
    }).router,
    {
      clock,
      logger: silentLogger,
      poolFactory: (url) => new FakePool(new URL(url).hostname !== "primary"),
    },
  );
  await router.start();
  const cluster = router.clusters[0]!;
  expect(cluster.serving).toHaveLength(2);
  for (const n of cluster.replicas) {
    Object.defineProperty(n, "pipelines", { value: true });
    n.noteReplayed(1_000n);
  }
  routers.push(router);
  const [r1, r2] = cluster.replicas as [DbNode, DbNode];
  const token = (lsn: bigint): Consistency => ({
    level: "read_your_writes",
    token: { cluster: "main", lsn },
  });
  const plan = (lsn: bigint, guardable = true) =>
    router.planner.choose(cluster, token(lsn), "", undefined, guardable);
  return { router, clock, cluster, r1, r2, plan };
}

const name = (c: Choice | Promise<Choice>) =>
  c instanceof Promise ? "waits" : `${c.node.name}${c.guard ? " checked" : ""}`;

describe("a token no replica is known to have replayed", () => {
  it("goes with its check, balanced by the strategy; a token known replayed needs no check", async () => {
    const { plan } = await setup();
    const seen = new Set([name(plan(2_000n)), name(plan(2_000n))]);
    expect(seen).toEqual(new Set(["replica_1 checked", "replica_2 checked"]));
    const c = plan(900n) as Choice;
    expect(c.guard).toBeUndefined();
    expect(c.node.role).toBe("replica");
  });

  it("passes over a replica just found behind, until a position past that token is seen there", async () => {
    const { plan, r1, r2 } = await setup();
    r1.noteBehind(2_000n);
    for (let i = 0; i < 4; i++)
      expect(name(plan(2_100n))).toBe("replica_2 checked");
    r1.noteReplayed(2_000n);
    const seen = new Set([name(plan(2_100n)), name(plan(2_100n))]);
    expect(seen).toEqual(new Set(["replica_1 checked", "replica_2 checked"]));
    void r2;
  });

  it("checks a behind replica again after 2 ms, 4 ms, 8 ms... (doubling with each miss in a row, at most 1 s), and 2 ms again after a check that passed once caught up with that token; with both behind it waits", async () => {
    const { plan, r1, r2, clock } = await setup();
    r2.noteBehind(1_000_000n);
    const waited: number[] = [];
    for (let miss = 1; miss <= 12; miss++) {
      r1.noteBehind(2_000n + BigInt(miss));
      let ms = 0;
      for (;;) {
        const n = name(plan(3_000n));
        // replica_2 kept behind throughout: only replica_1's window counts.
        if (n === "replica_2 checked") r2.noteBehind(1_000_000n);
        else if (n === "waits") (clock.advance(1), ms++);
        else break;
      }
      waited.push(ms);
    }
    expect(waited).toEqual([
      2,
      4,
      8,
      16,
      32,
      64,
      128,
      256,
      512,
      MAX_BEHIND_MS,
      MAX_BEHIND_MS,
      MAX_BEHIND_MS,
    ]);
    // A check that passed for an older token (still short of the one it
    // was found behind) does not start the doubling again...
    r1.noteCaughtUp();
    r1.noteBehind(3_500n);
    clock.advance(2);
    r2.noteBehind(1_000_000n);
    expect(name(plan(3_600n))).toBe("waits");
    clock.advance(MAX_BEHIND_MS);
    // ...one that passed once it caught up does.
    r1.noteReplayed(3_500n);
    r1.noteCaughtUp();
    r1.noteBehind(4_000n);
    for (let i = 0; i < 12; i++) r2.noteBehind(1_000_000n);
    expect(name(plan(5_000n))).toBe("waits");
    clock.advance(2);
    expect(name(plan(5_000n))).toBe("replica_1 checked");
  });

  it("waits when the read cannot carry the check (several statements), and goes to the primary without waiting when READ_YOUR_WRITES_MAX_WAIT=0 and both are behind", async () => {
    const { plan } = await setup();
    const p = plan(2_000n, false);
    expect(p).toBeInstanceOf(Promise);
    const zero = await setup({ READ_YOUR_WRITES_MAX_WAIT: "0" });
    expect(name(zero.plan(2_000n))).toMatch(/checked$/);
    zero.r1.noteBehind(2_000n);
    zero.r2.noteBehind(2_000n);
    const c = zero.plan(2_000n) as Choice;
    expect([c.node.role, c.reason]).toEqual(["primary", "token_not_replayed"]);
    await (p as Promise<Choice>).catch(() => undefined);
  });
});

/**
 * Zone-aware planning with fake pools: local replicas first, the strategy
 * balancing within the zone, spill to another zone only when no local
 * replica may serve (and why), hedges likewise, and no change at all when
 * no zone is configured.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { EVENTUAL } from "../../backend/database/router/consistency/consistency";
import { silentLogger } from "../../backend/database/router/support/logger";
import { FakePool } from "./helpers/fake_pool";
import type { RouteReason } from "../../backend/database/router/read_planner";
import { ReplicaRouter } from "../../backend/database/router/replica_router";

async function setup(env: Record<string, string>) {
  const routes: Array<[string, RouteReason]> = [];
  const zoneReads: string[] = [];
  const pools = new Map<string, FakePool>();
  const config = loadConfig({
    DATABASE_URL: "postgres://u:pw@primary:5432/app",
    READ_REPLICA_URLS:
      "postgres://u:pw@r1:5432/app,postgres://u:pw@r2:5432/app,postgres://u:pw@r3:5432/app",
    ...env,
  });
  const router = new ReplicaRouter(config.router, {
    clock: new ManualClock(),
    logger: silentLogger,
    observer: {
      onRoute: (node, _e, reason) => void routes.push([node.name, reason]),
      onZoneRead: (_n, locality, why) =>
        void zoneReads.push(`${locality}:${why}`),
    },
    poolFactory: (url) => {
      const host = new URL(url).hostname;
      const pool = new FakePool(host !== "primary");
      pools.set(host, pool);
      return pool;
    },
  });
  await router.start();
  const read = async () => {
    const db = router.getReadConnection();
    await db.queryAll`SELECT 1`;
    return db.servedBy;
  };
  const node = (name: string) =>
    router.clusters[0]!.replicas.find((n) => n.name === name)!;
  return {
    router,
    routes,
    zoneReads,
    read,
    node,
    pool: (h: string) => pools.get(h)!,
  };
}

const ZONED = { SERVICE_ZONE: "a", READ_REPLICA_ZONES: "a,a,b" };

describe("zone-aware reads", () => {
  it("without zones: round-robin over every replica, as before", async () => {
    const { read, router } = await setup({});
    const served = [];
    for (let i = 0; i < 6; i++) served.push(await read());
    expect(new Set(served)).toEqual(
      new Set(["replica_1", "replica_2", "replica_3"]),
    );
    await router.close();
  });

  it("reads stay in the service's zone, balanced there by the strategy", async () => {
    const { read, router, zoneReads } = await setup(ZONED);
    const served: string[] = [];
    for (let i = 0; i < 10; i++) served.push((await read())!);
    expect(served.filter((s) => s === "replica_1")).toHaveLength(5);
    expect(served.filter((s) => s === "replica_2")).toHaveLength(5);
    expect(new Set(zoneReads)).toEqual(new Set(["local:"]));
    await router.close();
  });

  it("weights apply within the zone", async () => {
    const { read, router } = await setup({
      ...ZONED,
      LOAD_BALANCING_STRATEGY: "weighted",
      REPLICA_WEIGHTS: "3,1,100",
    });
    const served: string[] = [];
    for (let i = 0; i < 40; i++) served.push((await read())!);
    expect(served).not.toContain("replica_3");
    expect(served.filter((s) => s === "replica_1")).toHaveLength(30);
    await router.close();
  });

  it("spills to the other zone only when no local replica may serve, says why, and comes back", async () => {
    const { read, router, routes, zoneReads, node } = await setup(ZONED);
    node("replica_1").breaker!.openManually("test");
    expect(await read()).toBe("replica_2");
    node("replica_2").breaker!.openManually("test");
    routes.length = 0;
    expect(await read()).toBe("replica_3");
    expect(routes.at(-1)).toEqual(["replica_3", "zone_spill"]);
    expect(zoneReads.at(-1)).toBe("spill:local_circuit_open");
    node("replica_2").breaker!.closeManually("test");
    expect(await read()).toBe("replica_2");
    await router.close();
  });

  it("a token read spills only to a replica known to have replayed the token", async () => {
    const { router, node } = await setup(ZONED);
    const token = { cluster: "main", lsn: 0x500n };
    node("replica_3").noteReplayed(0x500n);
    // Local replicas are at 0/100: not caught up; the remote one is.
    const choice = router.planner.choose(
      router.clusters[0]!,
      { level: "read_your_writes", token },
      "",
      undefined,
    );
    const planned = choice instanceof Promise ? await choice : choice;
    expect(planned.node.name).toBe("replica_3");
    expect(planned.reason).toBe("zone_spill");
    await router.close();
  });

  it("a token read waits on a local replica before using a remote one that looks further along", async () => {
    const { router, node, pool } = await setup(ZONED);
    // The remote replica's last sample is ahead (it is sampled later); the
    // local ones have replayed the token too, as asking them shows.
    node("replica_3").noteReplayed(0x900n);
    pool("r1").replayLsn = "0/900";
    pool("r2").replayLsn = "0/900";
    const choice = router.planner.choose(
      router.clusters[0]!,
      { level: "read_your_writes", token: { cluster: "main", lsn: 0x500n } },
      "",
      undefined,
    );
    const planned = choice instanceof Promise ? await choice : choice;
    expect(["replica_1", "replica_2"]).toContain(planned.node.name);
    expect(planned.reason).toBe("replica");
    planned.permit?.release();
    await router.close();
  });

  it("a hedge goes to another zone only when no other local replica is eligible", async () => {
    const { router, node } = await setup(ZONED);
    const cluster = router.clusters[0]!;
    const first = node("replica_1");
    const target = router.planner.hedgeTarget(cluster, EVENTUAL, "", [first]);
    expect(target?.owner.name).toBe("replica_2");
    target?.release();
    node("replica_2").breaker!.openManually("test");
    const spill = router.planner.hedgeTarget(cluster, EVENTUAL, "", [first]);
    expect(spill?.owner.name).toBe("replica_3");
    spill?.release();
    await router.close();
  });
});

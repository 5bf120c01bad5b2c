/**
 * The router's read and write paths with fake pools and a manual clock:
 * retry on node failures, no retry on caller errors, classifier misses,
 * breakers, fallbacks and their reasons.
 */
import { describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { NodeUnavailableError } from "../../backend/database/router/base/errors";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { RouteReason } from "../../backend/database/router/read_planner";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { FakePool } from "./helpers/fake_pool";

async function setup(env: Record<string, string> = {}) {
  const clock = new ManualClock();
  const pools = new Map<string, FakePool>();
  const warnings: string[] = [];
  const routes: Array<[string, RouteReason]> = [];
  const config = loadConfig({
    DATABASE_URL: "postgres://u:pw@primary:5432/app",
    READ_REPLICA_URLS:
      "postgres://u:pw@r1:5432/app,postgres://u:pw@r2:5432/app",
    ...env,
  });
  const router = new ReplicaRouter(config.router, {
    clock,
    logger: { ...silentLogger, warn: (m) => void warnings.push(m) },
    observer: {
      onRoute: (node, _endpoint, reason) =>
        void routes.push([node.name, reason]),
    },
    poolFactory: (url) => {
      const host = new URL(url).hostname;
      const pool = new FakePool(host !== "primary");
      pools.set(host, pool);
      return pool;
    },
  });
  await router.start();
  const pool = (host: string) => pools.get(host)!;
  return { router, clock, pool, warnings, routes };
}

const readOnce = async (router: ReplicaRouter) => {
  const db = router.getReadConnection();
  await db.queryAll`SELECT 1`;
  return db.servedBy;
};

describe("read path", () => {
  it("retries a read that failed for the node's fault on another node; the caller sees rows", async () => {
    const { router, pool } = await setup();
    pool("r1").down = true;
    pool("r2").behaviour = () => [{ answer: 42 }];
    for (let i = 0; i < 4; i++) {
      const db = router.getReadConnection();
      expect(await db.queryAll`SELECT answer`).toEqual([{ answer: 42 }]);
      expect(db.servedBy).toBe("replica_2");
    }
  });

  it("opens the failing replica's circuit after the threshold and stops sending it reads", async () => {
    const { router, pool } = await setup();
    pool("r1").down = true;
    for (let i = 0; i < 6; i++) await readOnce(router);
    const r1 = router.clusters[0]!.replicas[0]!;
    expect(r1.breaker!.stateName).toBe("open");
    const before = pool("r2").calls.length;
    for (let i = 0; i < 10; i++)
      expect(await readOnce(router)).toBe("replica_2");
    expect(pool("r2").calls.length - before).toBe(10);
  });

  it("serves from the primary when every replica fails, and says why", async () => {
    const { router, pool, routes } = await setup();
    pool("r1").down = true;
    pool("r2").down = true;
    expect(await readOnce(router)).toBe("primary");
    for (let i = 0; i < 6; i++) await readOnce(router);
    expect(router.clusters[0]!.fallbackReason).toBe("circuit_open");
    expect(routes.at(-1)).toEqual(["primary", "circuit_open"]);
  });

  it("does not retry or blame the node for the caller's errors", async () => {
    const { router, pool } = await setup();
    for (const host of ["r1", "r2"]) {
      pool(host).behaviour = () => {
        throw Object.assign(new Error('syntax error at or near "SELEC"'), {
          code: "42601",
        });
      };
    }
    await expect(
      router.getReadConnection().queryAll`SELEC 1`,
    ).rejects.toMatchObject({ code: "42601" });
    expect(pool("r1").calls.length + pool("r2").calls.length).toBe(1);
    for (const n of router.clusters[0]!.replicas)
      expect(n.breaker!.stateName).toBe("closed");
    expect(router.clusters[0]!.replicas.every((n) => n.failures === 0)).toBe(
      true,
    );
  });

  it("retries a statement a replica refused as a write (25006) on the primary, and logs the miss", async () => {
    const { router, pool, warnings } = await setup();
    for (const host of ["r1", "r2"]) {
      pool(host).behaviour = () => {
        throw Object.assign(
          new Error("cannot execute UPDATE in a read-only transaction"),
          { code: "25006" },
        );
      };
    }
    pool("primary").behaviour = () => [{ updated: 1 }];
    const db = router.getReadConnection();
    expect(
      await db.queryAll`UPDATE t SET x = 1 RETURNING 1 AS updated`,
    ).toEqual([{ updated: 1 }]);
    expect(db.servedBy).toBe("primary");
    expect(warnings.some((w) => w.includes("classifier miss"))).toBe(true);
  });

  it("sends raw SQL that is not provably read-only straight to the primary", async () => {
    const { router, pool } = await setup();
    await router.query("SELECT * FROM t FOR UPDATE");
    await router.query("SELECT nextval('s')");
    expect(pool("primary").calls).toEqual([
      "SELECT * FROM t FOR UPDATE",
      "SELECT nextval('s')",
    ]);
    expect(pool("r1").calls.length + pool("r2").calls.length).toBe(0);
  });

  it("honours strong consistency, the global switch and per-endpoint switches", async () => {
    const { router, routes } = await setup({
      REPLICA_DISABLED_ENDPOINTS: "finance.getRevenue",
    });
    await router.getReadConnection({ consistency: { level: "strong" } })
      .queryAll`SELECT 1`;
    await router.getReadConnection({ endpoint: "finance.getRevenue" })
      .queryAll`SELECT 1`;
    expect(await readOnce(router)).toMatch(/^replica_/);
    router.roles.setReplicaReads(false);
    await readOnce(router);
    expect(routes.map((r) => r.join(":"))).toEqual([
      "primary:strong",
      "primary:endpoint_disabled",
      expect.stringMatching(/^replica_\d:replica$/),
      "primary:replicas_disabled",
    ]);
  });
});

describe("circuit recovery", () => {
  it("probes a replica the moment its open period ends, without waiting for a poll or a read", async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "setInterval", "clearTimeout", "clearInterval"],
    });
    try {
      const { router, clock, pool } = await setup({
        REPLICA_HEALTH_CHECK_INTERVAL: "1h",
        REPLICA_LAG_POLL_INTERVAL: "1h",
        CIRCUIT_BREAKER_OPEN_DURATION: "30s",
      });
      pool("r1").down = true;
      for (let i = 0; i < 6; i++) await readOnce(router);
      const r1 = router.clusters[0]!.replicas[0]!;
      expect(r1.breaker!.stateName).toBe("open");
      pool("r1").down = false;
      clock.advance(30_000);
      await vi.advanceTimersByTimeAsync(30_001);
      // The wake-up timer took the half-open step and probed r1: it is healthy again.
      expect(r1.health.verdict).toBe("healthy");
      expect(r1.breaker!.stateName).toBe("half_open");
      expect(router.clusters[0]!.serving).toContain(r1);
      await router.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a half-open replica's trial slot", () => {
  it("is given back by a trial that ends in the caller's error, so the replica is tried again and closes", async () => {
    const { router, clock, pool } = await setup({
      REPLICA_HEALTH_CHECK_INTERVAL: "1h",
      REPLICA_LAG_POLL_INTERVAL: "1h",
      CIRCUIT_BREAKER_OPEN_DURATION: "30s",
      CIRCUIT_BREAKER_SUCCESS_THRESHOLD: "2",
    });
    pool("r1").down = true;
    for (let i = 0; i < 6; i++) await readOnce(router);
    const r1 = router.clusters[0]!.replicas[0]!;
    expect(r1.breaker.stateName).toBe("open");
    pool("r1").down = false;
    pool("r2").down = true; // every read goes to r1 now, or to the primary
    clock.advance(30_000);
    expect(r1.breaker.stateName).toBe("half_open");
    await router.health.checkAll(); // r1 answers its probe: healthy again
    // The trial read is the caller's mistake: no verdict, the slot comes back.
    pool("r1").behaviour = () => {
      throw Object.assign(new Error('syntax error at or near "SELEC"'), {
        code: "42601",
      });
    };
    await expect(
      router.getReadConnection().queryAll`SELEC 1`,
    ).rejects.toMatchObject({ code: "42601" });
    expect(r1.breaker.state).toEqual({
      name: "half_open",
      successes: 0,
      probeInFlight: false,
    });
    // Two good trials close it.
    pool("r1").behaviour = () => [{ ok: 1 }];
    expect(await readOnce(router)).toBe("replica_1");
    expect(await readOnce(router)).toBe("replica_1");
    expect(r1.breaker.stateName).toBe("closed");
    await router.close();
  });
});

describe("health and roles", () => {
  it("never reads from a 'replica' that is not in recovery or belongs to another primary", async () => {
    const clock = new ManualClock();
    const config = loadConfig({
      DATABASE_URL: "postgres://u@primary/app",
      READ_REPLICA_URLS:
        "postgres://u@standalone/app,postgres://u@foreign/app,postgres://u@good/app",
    });
    const pools: FakePool[] = [];
    const router = new ReplicaRouter(config.router, {
      clock,
      logger: silentLogger,
      poolFactory: (url) => {
        const host = new URL(url).hostname;
        const p = new FakePool(
          host !== "primary" && host !== "standalone",
          host === "foreign" ? "9999" : "7",
        );
        pools.push(p);
        return p;
      },
    });
    await router.start();
    const states = router.clusters[0]!.replicas.map((n) => n.state({}));
    expect(states).toEqual(["not_a_replica", "not_a_replica", "healthy"]);
    for (let i = 0; i < 10; i++)
      expect(await readOnce(router)).toBe("replica_3");
  });
});

describe("verification against the primary", () => {
  it("serves nothing from a 'replica' until the primary has answered, then verifies it at once", async () => {
    const clock = new ManualClock();
    const config = loadConfig({
      DATABASE_URL: "postgres://u@primary/app",
      READ_REPLICA_URLS: "postgres://u@r1/app",
      REPLICA_HEALTH_CHECK_INTERVAL: "1h",
    });
    const pools = new Map<string, FakePool>();
    const router = new ReplicaRouter(config.router, {
      clock,
      logger: silentLogger,
      poolFactory: (url) => {
        const host = new URL(url).hostname;
        const p = new FakePool(host !== "primary");
        if (host === "primary") p.down = true;
        pools.set(host, p);
        return p;
      },
    });
    await router.start();
    const r1 = router.clusters[0]!.replicas[0]!;
    expect(r1.state({})).not.toBe("healthy");
    expect(r1.health.snapshot.lastError).toMatch(/cannot verify/);
    expect(router.clusters[0]!.serving).toEqual([]);
    pools.get("primary")!.down = false;
    await router.health.checkNode(
      router.clusters[0]!,
      router.clusters[0]!.primary,
    );
    // The replica re-probe it triggers, in the background.
    await vi.waitFor(() => expect(r1.health.verdict).toBe("healthy"), {
      timeout: 5_000,
    });
    expect(await readOnce(router)).toBe("replica_1");
    await router.close();
  });
});

describe("write path", () => {
  it("never fails a committed write because its consistency token could not be read", async () => {
    const { router, pool, warnings } = await setup();
    pool("primary").down = true;
    expect(await router.tokenAfterWrite("main")).toBeNull();
    expect(warnings.some((w) => w.includes("no consistency token sent"))).toBe(
      true,
    );
    pool("primary").down = false;
    expect(await router.tokenAfterWrite("main")).toBe("main:0/100");
  });

  it("fails fast with unavailable when the primary cannot be reached", async () => {
    const { router, pool } = await setup();
    pool("primary").down = true;
    const err = await router.getWriteConnection()
      .exec`INSERT INTO t VALUES (1)`.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NodeUnavailableError);
    expect((err as NodeUnavailableError).code).toBe("unavailable");
    expect((err as Error).message).not.toContain("pw");
    // Eventual reads carry on from replicas.
    expect(await readOnce(router)).toMatch(/^replica_/);
  });
});

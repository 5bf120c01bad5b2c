/**
 * Read distribution, write placement and org-range routing against real
 * servers: the shared primary + 2 replicas, and a second cluster.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { startTestApp, type TestApp } from "./helpers/app";
import { eventually, sql, withFreshCluster } from "./helpers/clusters";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

async function routerWith(env: Record<string, string>): Promise<ReplicaRouter> {
  const config = loadConfig({
    DATABASE_URL: primaryUrl,
    READ_REPLICA_URLS: replicaUrls.join(","),
    ...env,
  });
  const router = new ReplicaRouter(config.router, { logger: silentLogger });
  await router.start();
  return router;
}

async function readShares(
  router: ReplicaRouter,
  reads: number,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < reads; i++) {
    const db = router.getReadConnection();
    await db.queryRow`SELECT 1 AS one`;
    counts.set(db.servedBy!, (counts.get(db.servedBy!) ?? 0) + 1);
  }
  return counts;
}

describe("read distribution", () => {
  it("splits 1,000 reads evenly between 2 replicas under round-robin", async () => {
    const router = await routerWith({});
    try {
      const counts = await readShares(router, 1000);
      expect(counts.get("primary") ?? 0).toBe(0);
      for (const name of ["replica_1", "replica_2"]) {
        expect(Math.abs((counts.get(name) ?? 0) - 500)).toBeLessThanOrEqual(50);
      }
    } finally {
      await router.close();
    }
  });

  it("splits 1,000 reads 3:1 under weighted 3,1", async () => {
    const router = await routerWith({
      LOAD_BALANCING_STRATEGY: "weighted",
      REPLICA_WEIGHTS: "3,1",
    });
    try {
      const counts = await readShares(router, 1000);
      expect(
        Math.abs((counts.get("replica_1") ?? 0) - 750),
      ).toBeLessThanOrEqual(75);
      expect(
        Math.abs((counts.get("replica_2") ?? 0) - 250),
      ).toBeLessThanOrEqual(25);
    } finally {
      await router.close();
    }
  });

  it("least-connections sends reads to the idler replica", async () => {
    const router = await routerWith({
      LOAD_BALANCING_STRATEGY: "least-connections",
    });
    try {
      // Hold replica_1 busy; every read meanwhile must go to replica_2.
      const replica1 = router.clusters[0]!.replicas[0]!;
      const busy = replica1.query("SELECT pg_sleep(0.5)", []);
      const counts = await readShares(router, 20);
      await busy;
      expect(counts.get("replica_2")).toBe(20);
    } finally {
      await router.close();
    }
  });
});

describe("writes never reach a replica", () => {
  it("1,000 mixed operations: every write ran on the primary, checked on the servers", async () => {
    const misses: string[] = [];
    const logger = {
      ...silentLogger,
      warn: (m: string) => void misses.push(m),
    };
    const config = loadConfig({
      DATABASE_URL: primaryUrl,
      READ_REPLICA_URLS: replicaUrls.join(","),
    });
    const router = new ReplicaRouter(config.router, { logger });
    await router.start();
    const table = `mixed_${Date.now()}`;
    await sql(
      primaryUrl,
      `CREATE TABLE ${table} (id serial primary key, port int not null)`,
    );
    const primaryPort = Number(
      (await sql(primaryUrl, "SELECT inet_server_port() AS p"))[0].p,
    );
    try {
      let writes = 0;
      const readPorts = new Set<number>();
      for (let i = 0; i < 1000; i++) {
        if (i % 4 === 0) {
          // The server that executes the INSERT stamps its own port on the row.
          const row = await router
            .getWriteConnection()
            .rawQueryRow<{ port: number }>(
              `INSERT INTO ${table} (port) VALUES (inet_server_port()) RETURNING port`,
            );
          expect(row!.port).toBe(primaryPort);
          writes++;
        } else if (i % 4 === 1) {
          // Raw SQL through the read path: the classifier must send writes to the primary.
          await router.query(
            `INSERT INTO ${table} (port) VALUES (inet_server_port())`,
          );
          writes++;
        } else {
          const row = await router.getReadConnection().queryRow<{
            p: number;
          }>`SELECT inet_server_port() AS p`;
          readPorts.add(row!.p);
        }
      }
      // On the primary: every write is there and was executed by the primary itself.
      const onPrimary = await sql(
        primaryUrl,
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE port <> $1)::int AS elsewhere FROM ${table}`,
        [primaryPort],
      );
      expect(onPrimary[0]).toEqual({ n: writes, elsewhere: 0 });
      // A replica refuses writes outright, so none could have landed there.
      await expect(
        sql(replicaUrls[0]!, `INSERT INTO ${table} (port) VALUES (1)`),
      ).rejects.toMatchObject({ code: "25006" });
      expect(readPorts.has(primaryPort)).toBe(false);
      expect(misses.filter((m) => m.includes("classifier miss"))).toEqual([]);
    } finally {
      await router.close();
      await sql(primaryUrl, `DROP TABLE ${table}`);
    }
  });
});

describe("org-range routing to a second cluster", () => {
  let shard: LocalCluster;
  let t: TestApp;

  beforeAll(async () => {
    shard = await withFreshCluster(1);
    const { MIGRATIONS_DIR, runMigrations } =
      await import("../../backend/standalone/migrate");
    const { repoRoot } = await import("./helpers/clusters");
    await runMigrations(shard.primary.url, MIGRATIONS_DIR);
    t = await startTestApp(primaryUrl, replicaUrls, {
      ORG_RANGES: JSON.stringify([
        { minOrgId: 0, maxOrgId: 999_999, cluster: "main" },
        { minOrgId: 1_000_000, maxOrgId: 1_999_999, cluster: "shard_2" },
      ]),
      DB_CLUSTERS: JSON.stringify({
        shard_2: {
          primaryUrl: shard.primary.url,
          replicaUrls: [shard.replicas[0]!.url],
        },
      }),
    });
  });

  afterAll(async () => {
    await t?.close();
    await shard?.destroy();
  });

  it("sends the writes and reads of orgs in the second range there, and only those", async () => {
    const shardOrg = 1_000_000 + Math.floor(Math.random() * 900_000);
    const mainOrg = 1 + Math.floor(Math.random() * 900_000);
    const body = {
      amountCents: 1234,
      currency: "EUR",
      occurredAt: "2026-01-15T10:00:00Z",
    };

    const a = await t.call(
      "POST",
      `/v1/finance/orgs/${shardOrg}/revenues`,
      body,
    );
    expect(a.status).toBe(201);
    expect(a.servedBy).toBe("shard_2.primary");
    const b = await t.call(
      "POST",
      `/v1/finance/orgs/${mainOrg}/revenues`,
      body,
    );
    expect(b.servedBy).toBe("primary");

    // Each row exists on its own cluster's primary and nowhere else.
    const count = async (url: string, org: number) =>
      (
        await sql(
          url,
          "SELECT count(*)::int AS n FROM revenues WHERE org_id = $1",
          [org],
        )
      )[0].n;
    expect(await count(shard.primary.url, shardOrg)).toBe(1);
    expect(await count(primaryUrl, shardOrg)).toBe(0);
    expect(await count(primaryUrl, mainOrg)).toBe(1);
    expect(await count(shard.primary.url, mainOrg)).toBe(0);

    const read = await eventually(async () => {
      const r = await t.call(
        "GET",
        `/v1/finance/orgs/${shardOrg}/revenues/${a.body.id}`,
      );
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      return r;
    });
    expect(read.servedBy).toBe("shard_2.replica_1");

    const outside = await t.call(
      "POST",
      `/v1/finance/orgs/5000000/revenues`,
      body,
    );
    expect(outside.status).toBe(400);
    expect(outside.body.message).toMatch(/orgId/);
  });
});

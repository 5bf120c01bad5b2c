/**
 * Zone-aware reads against real servers: three replicas in two zones, two in
 * the service's zone "a" and one in "b" behind a proxy that adds 20 ms.
 * Reads stay in zone a; with both local replicas frozen they spill to zone b
 * with no failed read; thawed, they come back. The p50 of each phase is
 * printed.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { replicaStatus } from "../../backend/database/status/router_status";
import { loadConfig } from "../../backend/database/router/config/load_config";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { DelayProxy, freeze } from "../../scripts/faults";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { withFreshCluster } from "./helpers/clusters";
import { report } from "../support/verbose";

const READERS = 8;

interface Sample {
  endMs: number;
  ms: number;
  node: string | null;
  error: string | null;
}

let cluster: LocalCluster;
let proxy: DelayProxy;
let router: ReplicaRouter;
const zoneReads = new Map<string, number>();

beforeAll(async () => {
  cluster = await withFreshCluster(3);
  const r3 = new URL(cluster.replicas[2]!.url);
  proxy = new DelayProxy({ host: r3.hostname, port: Number(r3.port) }, 20);
  r3.port = String(await proxy.listen());
  const config = loadConfig({
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: [
      cluster.replicas[0]!.url,
      cluster.replicas[1]!.url,
      r3.toString(),
    ].join(","),
    SERVICE_ZONE: "a",
    PRIMARY_ZONE: "a",
    READ_REPLICA_ZONES: "a,a,b",
  });
  router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    observer: {
      onZoneRead(_n: DbNode, locality: string, why: string) {
        const key = `${locality}:${why}`;
        zoneReads.set(key, (zoneReads.get(key) ?? 0) + 1);
      },
    },
  });
  await router.start();
}, 120_000);

afterAll(async () => {
  await router?.close();
  await proxy?.close();
  await cluster?.destroy();
});

/**
 * READERS loops of point reads until `count` are done, or until the last
 * SETTLED reads all satisfy `settledOn` (at most `ms`, default 60 s).
 */
async function read(opts: {
  count?: number;
  ms?: number;
  settledOn?: (node: string | null) => boolean;
}): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = performance.now() + (opts.ms ?? 60_000);
  const settled = () =>
    opts.settledOn !== undefined &&
    samples.length >= SETTLED &&
    samples.slice(-SETTLED).every((s) => opts.settledOn!(s.node));
  const reader = async () => {
    while (
      performance.now() < until &&
      (opts.count === undefined || samples.length < opts.count) &&
      !settled()
    ) {
      const t0 = performance.now();
      const conn = router.getReadConnection();
      try {
        await conn.queryRow`SELECT 1 AS one`;
        samples.push({
          endMs: performance.now(),
          ms: performance.now() - t0,
          node: conn.servedBy,
          error: null,
        });
      } catch (err) {
        samples.push({
          endMs: performance.now(),
          ms: performance.now() - t0,
          node: null,
          error: String(err),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: READERS }, reader));
  return samples;
}

/** Consecutive reads from the expected zone that count as settled. */
const SETTLED = 100;

const p50 = (s: Sample[]) => {
  const ms = s.map((x) => x.ms).sort((a, b) => a - b);
  return +(ms[Math.floor(ms.length / 2)] ?? NaN).toFixed(2);
};
const byNode = (s: Sample[]) => {
  const out: Record<string, number> = {};
  for (const x of s)
    out[x.node ?? "failed"] = (out[x.node ?? "failed"] ?? 0) + 1;
  return out;
};

describe("zone-aware reads: two local replicas, one remote 20 ms away", () => {
  it("the status shows the service's zone and each node's", () => {
    const status = replicaStatus(router.roles);
    expect(status.serviceZone).toBe("a");
    expect(status.primary.zone).toBe("a");
    expect(status.replicas.map((r) => [r.name, r.zone])).toEqual([
      ["replica_1", "a"],
      ["replica_2", "a"],
      ["replica_3", "b"],
    ]);
  });

  it("1,000 reads stay in the local zone; frozen locals spill to the remote one with 0 failed reads; thawed, they come back", async () => {
    const local = await read({ count: 1_000 });
    report(
      `local phase: p50 ${p50(local)} ms, ${JSON.stringify(byNode(local))}`,
    );
    expect(local.filter((s) => s.error !== null)).toEqual([]);
    expect(local.length).toBeGreaterThanOrEqual(1_000);
    expect(
      local.every((s) => s.node === "replica_1" || s.node === "replica_2"),
    ).toBe(true);

    // Both locals frozen: read until the last SETTLED reads all came from
    // elsewhere (at most 30 s, over ten times what it takes). On a machine
    // so busy that the remote replica's proxy (in this process) looks
    // stalled too, some go to the primary: no read waits for the locals.
    const thaw1 = freeze(cluster.replicas[0]!);
    const thaw2 = freeze(cluster.replicas[1]!);
    let spill: Sample[];
    try {
      spill = await read({
        ms: 30_000,
        settledOn: (node) => node === "replica_3" || node === "primary",
      });
    } finally {
      thaw1();
      thaw2();
    }
    const settled = spill.slice(-SETTLED);
    report(
      `spill phase (both local replicas frozen): p50 ${p50(settled)} ms over the last ${SETTLED}, ${JSON.stringify(byNode(spill))}, zone reads ${JSON.stringify(Object.fromEntries(zoneReads))}`,
    );
    expect(
      spill
        .filter((s) => s.error !== null)
        .map((s) => s.error)
        .slice(0, 3),
    ).toEqual([]);
    expect(
      settled.every((s) => s.node === "replica_3" || s.node === "primary"),
    ).toBe(true);
    const remote = settled.filter((s) => s.node === "replica_3");
    expect(remote.length).toBeGreaterThanOrEqual(SETTLED / 2);
    expect(p50(remote)).toBeGreaterThan(20); // the remote zone's 20 ms, each way
    expect(
      [...zoneReads.keys()].some((k) => k.startsWith("spill:local_")),
    ).toBe(true);

    // Thawed: the locals take the reads back, with no manual step.
    const back = await read({
      ms: 30_000,
      settledOn: (node) => node === "replica_1" || node === "replica_2",
    });
    const backSettled = back.slice(-SETTLED);
    report(
      `back phase (thawed): p50 ${p50(backSettled)} ms over the last ${SETTLED}, ${JSON.stringify(byNode(back))}`,
    );
    expect(back.filter((s) => s.error !== null)).toEqual([]);
    expect(
      backSettled.every(
        (s) => s.node === "replica_1" || s.node === "replica_2",
      ),
    ).toBe(true);
  }, 60_000);
});

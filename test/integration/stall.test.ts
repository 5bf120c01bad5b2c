/**
 * A replica that stops answering without failing (SIGSTOP of its processes,
 * or a network that silently stops delivering) must not stall the readers
 * that reached it. With default settings and 8 concurrent readers, for a
 * 15 s fault of each kind: 0 failed reads, none slower than 1 s, p99 during
 * the fault under 250 ms, reads completing in every half second; and over a
 * healthy stretch, hedging adds under 5 % extra reads.
 */
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import type { RouteReason } from "../../backend/database/router/read_planner";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { withFreshCluster } from "./helpers/clusters";
import { freeze, SilentProxy } from "../../scripts/faults";

const READERS = 8;
const FAULT_MS = 15_000;

interface Sample {
  startMs: number;
  endMs: number;
  ms: number;
  node: string | null;
  error: string | null;
}

let cluster: LocalCluster;
let proxy: SilentProxy;
let router: ReplicaRouter;
const routed = { reads: 0, hedges: 0 };

beforeAll(async () => {
  cluster = await withFreshCluster(2);
  // replica_2 is reached through the proxy, so its network can fall silent.
  const r2 = new URL(cluster.replicas[1]!.url);
  proxy = new SilentProxy({ host: r2.hostname, port: Number(r2.port) });
  r2.port = String(await proxy.listen());
  const config = loadConfig({
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: [cluster.replicas[0]!.url, r2.toString()].join(","),
  });
  router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    observer: {
      onRoute(_node: DbNode, _endpoint: string, reason: RouteReason) {
        if (reason === "hedge") routed.hedges++;
        else routed.reads++;
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

/** Runs READERS readers for `ms`, calling `during` once they are going. */
async function readFor(
  ms: number,
  during?: () => Promise<void>,
): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = performance.now() + ms;
  const reader = async (i: number) => {
    while (performance.now() < until) {
      const startMs = performance.now();
      const conn = router.getReadConnection();
      try {
        await conn.queryRow`SELECT ${i}::int AS reader`;
        const endMs = performance.now();
        samples.push({
          startMs,
          endMs,
          ms: endMs - startMs,
          node: conn.servedBy ?? null,
          error: null,
        });
      } catch (err) {
        const endMs = performance.now();
        samples.push({
          startMs,
          endMs,
          ms: endMs - startMs,
          node: null,
          error: String(err),
        });
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: READERS }, (_, i) => reader(i)),
    during?.(),
  ]);
  return samples;
}

function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

/** Asserts the goal over the samples that started inside [fromMs, toMs]. */
function expectNoStall(
  label: string,
  samples: Sample[],
  fromMs: number,
  toMs: number,
) {
  const inFault = samples.filter(
    (s) => s.startMs >= fromMs && s.startMs <= toMs,
  );
  const ms = inFault.map((s) => s.ms);
  const failed = samples.filter((s) => s.error !== null);
  // Completions per whole half second of the fault: none may be empty.
  const buckets = new Array(Math.floor((toMs - fromMs) / 500)).fill(
    0,
  ) as number[];
  for (const s of samples)
    if (s.endMs >= fromMs && s.endMs < fromMs + buckets.length * 500)
      buckets[Math.floor((s.endMs - fromMs) / 500)]!++;
  const figures = {
    reads: inFault.length,
    failed: failed.length,
    p50: +percentile(ms, 0.5).toFixed(2),
    p99: +percentile(ms, 0.99).toFixed(2),
    max: +ms.reduce((a, b) => Math.max(a, b), 0).toFixed(1),
    emptiestHalfSecond: buckets.reduce((a, b) => Math.min(a, b), Infinity),
    failedAtMs: failed.slice(0, 3).map((f) => Math.round(f.startMs - fromMs)),
  };
  console.log(`${label}: ${JSON.stringify(figures)}`);
  expect(
    failed.map((s) => s.error).slice(0, 3),
    `${label}: failed reads`,
  ).toEqual([]);
  expect(figures.max, `${label}: slowest read (ms)`).toBeLessThan(1_000);
  expect(figures.p99, `${label}: p99 during the fault (ms)`).toBeLessThan(250);
  expect(
    figures.emptiestHalfSecond,
    `${label}: a half second with no read completed`,
  ).toBeGreaterThan(0);
}

describe("a replica that stops answering without failing", () => {
  it("healthy: hedging adds under 5 % extra reads", async () => {
    await readFor(2_000); // warm the latency windows
    const before = { ...routed };
    const samples = await readFor(10_000);
    const reads = routed.reads - before.reads;
    const hedges = routed.hedges - before.hedges;
    console.log(
      `healthy 10 s: ${reads} reads, ${hedges} hedges (${((100 * hedges) / reads).toFixed(2)} %), p99 ${percentile(
        samples.map((s) => s.ms),
        0.99,
      ).toFixed(2)} ms`,
    );
    expect(samples.every((s) => s.error === null)).toBe(true);
    expect(reads).toBeGreaterThan(1_000);
    expect(hedges / reads).toBeLessThan(0.05);
  });

  it("SIGSTOP of replica_1 for 15 s: no stall, no failure; it serves again after SIGCONT", async () => {
    let faultFrom = 0;
    let faultTo = 0;
    const samples = await readFor(FAULT_MS + 3_000, async () => {
      await new Promise((r) => setTimeout(r, 1_000));
      const thaw = freeze(cluster.replicas[0]!);
      faultFrom = performance.now();
      try {
        await new Promise((r) => setTimeout(r, FAULT_MS));
      } finally {
        thaw();
        faultTo = performance.now();
      }
    });
    expectNoStall("SIGSTOP replica_1", samples, faultFrom, faultTo);
    const after = samples.filter((s) => s.startMs > faultTo + 1_500);
    expect(
      after.some((s) => s.node === "replica_1"),
      "replica_1 serves again within 1.5 s of SIGCONT",
    ).toBe(true);
  });

  it("silent network drop to replica_2 for 15 s: no stall, no failure; it serves again after", async () => {
    let faultFrom = 0;
    let faultTo = 0;
    const samples = await readFor(FAULT_MS + 3_000, async () => {
      await new Promise((r) => setTimeout(r, 1_000));
      proxy.hold(true);
      faultFrom = performance.now();
      try {
        await new Promise((r) => setTimeout(r, FAULT_MS));
      } finally {
        proxy.hold(false);
        faultTo = performance.now();
      }
    });
    expectNoStall("silent drop replica_2", samples, faultFrom, faultTo);
    const after = samples.filter((s) => s.startMs > faultTo + 1_500);
    expect(
      after.some((s) => s.node === "replica_2"),
      "replica_2 serves again within 1.5 s",
    ).toBe(true);
  });
});

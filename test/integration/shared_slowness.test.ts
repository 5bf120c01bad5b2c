/**
 * Slowness that every replica shares is load, not a stall (issue 22). Both
 * replicas of a real cluster are reached through delaying proxies; with
 * default settings and 8 concurrent readers:
 * - both slowed down alike (every chunk held 150 ms each way, far past the
 *   100 ms deadline floor): neither is taken out, and reads keep being served
 *   by both replicas;
 * - then, delays off, one replica frozen (SIGSTOP) while the other answers:
 *   the frozen one is still suspected and taken out, the other is not.
 * Only orders of events and counts are asserted (no timing bound).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { DelayProxy, freeze } from "../../scripts/faults";
import { withFreshCluster } from "./helpers/clusters";
import { until } from "./helpers/until";
import { report } from "../support/verbose";

const READERS = 8;
/** Added to every chunk in each direction while both replicas are slow (ms). */
const SHARED_DELAY_MS = 150;
/** How long both stay slow. */
const SLOW_MS = 6_000;

let cluster: LocalCluster;
let proxies: DelayProxy[];
let router: ReplicaRouter;

beforeAll(async () => {
  cluster = await withFreshCluster(2);
  proxies = [];
  const urls: string[] = [];
  for (const replica of cluster.replicas) {
    const url = new URL(replica.url);
    const proxy = new DelayProxy(
      { host: url.hostname, port: Number(url.port) },
      0,
    );
    url.port = String(await proxy.listen());
    proxies.push(proxy);
    urls.push(url.toString());
  }
  const config = loadConfig({
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: urls.join(","),
  });
  router = new ReplicaRouter(config.router, { logger: silentLogger });
  await router.start();
}, 120_000);

afterAll(async () => {
  await router?.close();
  for (const p of proxies ?? []) await p.close();
  await cluster?.destroy();
});

/** Reads with READERS readers until `during` settles; @returns how many each node served, and the failures. */
async function readWhile(during: () => Promise<void>): Promise<{
  servedBy: Map<string, number>;
  failed: string[];
}> {
  const servedBy = new Map<string, number>();
  const failed: string[] = [];
  let done = false;
  const reader = async (i: number) => {
    while (!done) {
      const conn = router.getReadConnection();
      try {
        await conn.queryRow`SELECT ${i}::int AS reader`;
        const node = conn.servedBy ?? "?";
        servedBy.set(node, (servedBy.get(node) ?? 0) + 1);
      } catch (err) {
        failed.push(String(err));
      }
    }
  };
  await Promise.all([
    ...Array.from({ length: READERS }, (_, i) => reader(i)),
    during().finally(() => (done = true)),
  ]);
  return { servedBy, failed };
}

const replicas = () => router.clusters[0]!.replicas;
const suspected = () => replicas().map((r) => r.stallsSuspected);

describe("slowness every replica shares is load, not a stall", () => {
  it("both replicas slowed alike: neither is taken out and both keep serving; one frozen among healthy: it still is", async () => {
    // Warm up: both replicas answer quickly, so their deadlines are at the floor.
    await readWhile(() => new Promise((r) => setTimeout(r, 1_000)));
    expect(suspected()).toEqual([0, 0]);

    for (const p of proxies) p.delayMs = SHARED_DELAY_MS;
    const slow = await readWhile(
      () => new Promise((r) => setTimeout(r, SLOW_MS)),
    );
    for (const p of proxies) p.delayMs = 0;
    report(
      `shared slowness: ${JSON.stringify({
        servedBy: Object.fromEntries(slow.servedBy),
        suspected: suspected(),
        withheld: replicas().map((r) => r.stallsWithheld),
      })}`,
    );
    expect(slow.failed.slice(0, 3)).toEqual([]);
    expect(suspected(), "replicas taken out while equally slow").toEqual([
      0, 0,
    ]);
    expect(slow.servedBy.get("replica_1") ?? 0).toBeGreaterThan(0);
    expect(slow.servedBy.get("replica_2") ?? 0).toBeGreaterThan(0);
    // The watch did see the silence, and kept them in on purpose.
    expect(
      replicas().reduce((n, r) => n + r.stallsWithheld, 0),
    ).toBeGreaterThan(0);

    // One replica frozen while the other answers at full speed.
    const thaw = freeze(cluster.replicas[0]!);
    try {
      await readWhile(() =>
        until(
          "the frozen replica suspected",
          () => replicas()[0]!.stallsSuspected > 0,
          30_000,
        ),
      );
      expect(replicas()[1]!.stallsSuspected).toBe(0);
    } finally {
      thaw();
    }
  }, 90_000);
});

/**
 * What hedging costs on the common path: a point read by primary key, over a
 * local primary + 2 streaming replicas, three ways at concurrency 1, 16 and
 * 64, alternating in short rounds (medians over rounds):
 *   floor      a plain `pg.Pool` per replica, round-robin (20 connections each);
 *   router     `router.getReadConnection().queryRow`, default settings;
 *   no hedge   the same with REPLICA_HEDGE_MAX_EXTRA_LOAD=0.
 * Prints reads/s relative to the floor, client CPU µs per read (this
 * process's user+system time over reads), p99, hedges sent (and won, where
 * the router counts them) and connections
 * the router's replica pools closed during the measurement (a hedge that
 * destroys its loser's connection shows up there).
 *
 *   npx tsx scripts/bench/hedge_cost.ts [--rounds N] [--segment-ms MS]
 */
import { performance } from "node:perf_hooks";
import path from "node:path";
import os from "node:os";
import pg from "pg";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { silentLogger } from "../../backend/database/router/support/logger";
import { startLocalCluster } from "../../backend/standalone/local_cluster/local_cluster";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const ROUNDS = arg("--rounds", 9);
const SEGMENT_MS = arg("--segment-ms", 300);
const ROWS = 10_000;
const SQL = "SELECT id, v FROM hedge_bench WHERE id = $1";

interface Variant {
  name: string;
  read: (id: number) => Promise<unknown>;
  hedges: () => number;
  /** Hedges that answered first (NaN where the router does not count them). */
  won: () => number;
  closed: () => number;
}

interface Segment {
  rate: number;
  cpuUsPerRead: number;
  p99: number;
  hedges: number;
  won: number;
  closed: number;
}

async function main(): Promise<void> {
  const cluster = await startLocalCluster({
    dir: path.join(os.tmpdir(), "hedge-cost-cluster"),
    replicas: 2,
  });
  const admin = new pg.Client({ connectionString: cluster.primary.url });
  await admin.connect();
  await admin.query(
    "CREATE TABLE IF NOT EXISTS hedge_bench (id int PRIMARY KEY, v text)",
  );
  await admin.query(
    "INSERT INTO hedge_bench SELECT g, md5(g::text) FROM generate_series(1, $1) g ON CONFLICT DO NOTHING",
    [ROWS],
  );
  await admin.end();
  const replicaUrls = cluster.replicas.map((r) => r.url);
  // Wait for the rows on both replicas.
  for (const url of replicaUrls) {
    for (;;) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const { rows } = await c
        .query("SELECT count(*)::int AS n FROM hedge_bench")
        .catch(() => ({ rows: [{ n: 0 }] }));
      await c.end();
      if (rows[0].n >= ROWS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const pools = replicaUrls.map((url) => {
    const p = new pg.Pool({ connectionString: url, max: 20 });
    p.on("error", () => undefined);
    return p;
  });
  let next = 0;
  const floor: Variant = {
    name: "floor",
    read: (id) => pools[next++ & 1]!.query(SQL, [id]),
    hedges: () => 0,
    won: () => 0,
    closed: () => 0,
  };
  const routerVariant = async (
    name: string,
    env: Record<string, string>,
  ): Promise<Variant & { router: ReplicaRouter }> => {
    let hedges = 0;
    let closed = 0;
    const config = loadConfig({
      ...env,
      DATABASE_URL: cluster.primary.url,
      READ_REPLICA_URLS: replicaUrls.join(","),
    });
    const router = new ReplicaRouter(config.router, {
      logger: silentLogger,
      observer: {
        onRoute: (_n, _e, reason) => void (reason === "hedge" && hedges++),
      },
    });
    await router.start();
    for (const node of router.clusters[0]!.replicas)
      (node.pool as unknown as pg.Pool).on("remove", () => void closed++);
    return {
      name,
      router,
      read: (id) =>
        router.getReadConnection()
          .queryRow`SELECT id, v FROM hedge_bench WHERE id = ${id}`,
      hedges: () => hedges,
      won: () =>
        (router.hedged as { hedgesWon?: number }).hedgesWon ?? Number.NaN,
      closed: () => closed,
    };
  };
  const routed = await routerVariant("router", {});
  const noHedge = await routerVariant("no hedge", {
    REPLICA_HEDGE_MAX_EXTRA_LOAD: "0",
  });
  const variants: Variant[] = [floor, routed, noHedge];

  const segment = async (v: Variant, c: number): Promise<Segment> => {
    const lat: number[] = [];
    const h0 = v.hedges();
    const w0 = v.won();
    const k0 = v.closed();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const end = t0 + SEGMENT_MS;
    await Promise.all(
      Array.from({ length: c }, async (_, w) => {
        let id = w * 7919;
        while (performance.now() < end) {
          id = (id * 48271 + 1) % ROWS;
          const s = performance.now();
          await v.read(id + 1);
          lat.push(performance.now() - s);
        }
      }),
    );
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    lat.sort((a, b) => a - b);
    return {
      rate: (lat.length * 1000) / wall,
      cpuUsPerRead: (cpu.user + cpu.system) / lat.length,
      p99: lat[Math.ceil(0.99 * lat.length) - 1] ?? NaN,
      hedges: v.hedges() - h0,
      won: v.won() - w0,
      closed: v.closed() - k0,
    };
  };

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };

  for (const v of variants) await segment(v, 16); // warm up
  console.log(
    `rounds ${ROUNDS} x ${SEGMENT_MS} ms; median over rounds; ratio = reads/s ÷ floor's in the same round`,
  );
  console.log(
    "c\tvariant\tratio\treads/s\tcpu µs/read\tp99 ms\thedges\twon\tconns closed",
  );
  for (const c of [1, 16, 64]) {
    const results = new Map<string, Segment[]>(
      variants.map((v) => [v.name, []]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so no variant always runs first.
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(round + i) % variants.length]!;
        results.get(v.name)!.push(await segment(v, c));
      }
    }
    const floorRates = results.get("floor")!.map((s) => s.rate);
    for (const v of variants) {
      const segs = results.get(v.name)!;
      const ratio = median(segs.map((s, i) => s.rate / floorRates[i]!));
      const sum = (f: (s: Segment) => number) =>
        segs.reduce((a, s) => a + f(s), 0);
      console.log(
        [
          c,
          v.name,
          ratio.toFixed(2),
          Math.round(median(segs.map((s) => s.rate))),
          median(segs.map((s) => s.cpuUsPerRead)).toFixed(1),
          median(segs.map((s) => s.p99)).toFixed(1),
          sum((s) => s.hedges),
          sum((s) => s.won),
          sum((s) => s.closed),
        ].join("\t"),
      );
    }
  }
  await routed.router.close();
  await noHedge.router.close();
  await Promise.all(pools.map((p) => p.end()));
  await cluster.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * What a routed read costs over the floor, on a real cluster (its own:
 * primary + 2 streaming replicas under .data/, removed at the end): a point
 * read by primary key, at concurrency 1, 16 and 64, variants alternating in
 * short rounds (a fresh shuffled order each round), medians of per-round
 * ratios and differences:
 *   direct    one `pg.Pool` on replica 1;
 *   floor     plain round-robin over one `pg.Pool` per replica;
 *   router    `getReadConnection({ orgId }).queryRow`, `loadConfig` defaults
 *             (DATABASE_URL and READ_REPLICA_URLS only), the Prometheus
 *             RouterMetrics observer attached as `npm start` does;
 *   no hedge  the same with REPLICA_HEDGE_MAX_EXTRA_LOAD=0;
 *   floor A/A the floor again on pools of its own (the harness's noise).
 * Pools are DB_MAX_CONNECTIONS' default size. Client CPU per read is this
 * process's user+system time over reads in the segment ("−floor": the
 * median of its per-round difference from the floor's). The router rows
 * carry the goal of DESIGN.md's hot-path budget: ≥ 0.95 of the floor and
 * at most 5 µs of client CPU per read more.
 *
 * With --profile, then profiles floor, router and no hedge in interleaved
 * segments at c=16 and c=64 (read_path_frames.ts) and prints sampled µs
 * per read by area, the router's top self-time frames and where it spends
 * more than the floor.
 *
 *   npx tsx scripts/bench/read_path_profile.ts [--rounds N] [--segment-ms MS]
 *     [--conc 1,16,64] [--profile]
 */
import path from "node:path";
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import pg from "pg";
import { RouterMetrics } from "../../backend/database/metrics";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { silentLogger } from "../../backend/database/router/support/logger";
import {
  removeLocalCluster,
  startLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import { printFrames, profileInterleaved } from "./read_path_frames";

// A variant idle while the others run must not lose its compiled code (V8
// flushes the bytecode of functions unused for a few GCs); in a service
// the read path never idles that long.
v8.setFlagsFromString("--no-flush-bytecode");

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const ROUNDS = arg("--rounds", 9);
const SEGMENT_MS = arg("--segment-ms", 400);
const PROFILE = process.argv.includes("--profile");
const CONCURRENCY = (() => {
  const i = process.argv.indexOf("--conc");
  return i < 0 ? [1, 16, 64] : process.argv[i + 1]!.split(",").map(Number);
})();
const ROWS = 10_000;
const POOL_MAX = 20; // DB_MAX_CONNECTIONS' default
const SQL = "SELECT id, v FROM read_path_bench WHERE id = $1";
const REPO = path.resolve(import.meta.dirname, "../..");

interface Variant {
  name: string;
  read: (id: number) => Promise<unknown>;
  /** Hedges sent since start (routers). */
  hedges?: () => number;
}
interface Segment {
  reads: number;
  hedges: number;
  rate: number;
  cpuUs: number;
  userUs: number;
  p99: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

let shuffleState = 12345;
/** A pseudo-random permutation (seeded: the same sequence every run). */
function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    shuffleState = (shuffleState * 48271) % 2147483647;
    const j = shuffleState % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const sum = (segs: Segment[], k: "reads" | "hedges"): number =>
  segs.reduce((a, s) => a + s[k], 0);

async function segment(v: Variant, c: number, ms: number): Promise<Segment> {
  const lat: number[] = [];
  const h0 = v.hedges?.() ?? 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
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
    reads: lat.length,
    hedges: (v.hedges?.() ?? 0) - h0,
    rate: (lat.length * 1000) / wall,
    cpuUs: (cpu.user + cpu.system) / lat.length,
    userUs: cpu.user / lat.length,
    p99: lat[Math.ceil(0.99 * lat.length) - 1] ?? NaN,
  };
}

async function seed(primaryUrl: string, replicaUrls: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: primaryUrl });
  await admin.connect();
  await admin.query(
    "CREATE TABLE IF NOT EXISTS read_path_bench (id int PRIMARY KEY, v text)",
  );
  await admin.query(
    "INSERT INTO read_path_bench SELECT g, md5(g::text) FROM generate_series(1, $1) g ON CONFLICT DO NOTHING",
    [ROWS],
  );
  await admin.end();
  for (const url of replicaUrls) {
    for (;;) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const { rows } = await c
        .query("SELECT count(*)::int AS n FROM read_path_bench")
        .catch(() => ({ rows: [{ n: 0 }] }));
      await c.end();
      if (rows[0].n >= ROWS) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function main(): Promise<void> {
  const dir = path.join(REPO, ".data", `read-path-profile-${process.pid}`);
  const cluster = await startLocalCluster({ dir, replicas: 2 });
  const routers: ReplicaRouter[] = [];
  const pools: pg.Pool[] = [];
  try {
    const replicaUrls = cluster.replicas.map((r) => r.url);
    await seed(cluster.primary.url, replicaUrls);
    const newPool = (url: string): pg.Pool => {
      const p = new pg.Pool({ connectionString: url, max: POOL_MAX });
      p.on("error", () => undefined);
      pools.push(p);
      return p;
    };
    const one = newPool(replicaUrls[0]!);
    const rr = replicaUrls.map(newPool);
    let next = 0;
    let next2 = 0;
    const rr2 = replicaUrls.map(newPool);
    const routerVariant = async (
      name: string,
      env: Record<string, string>,
    ): Promise<Variant> => {
      const config = loadConfig({
        ...env,
        DATABASE_URL: cluster.primary.url,
        READ_REPLICA_URLS: replicaUrls.join(","),
      });
      const metrics = new RouterMetrics();
      const router = new ReplicaRouter(config.router, {
        logger: silentLogger,
        observer: metrics,
        cacheObserver: metrics.cache,
      });
      metrics.attach(router);
      await router.start();
      routers.push(router);
      return {
        name,
        hedges: () => router.hedged.hedgesSent,
        read: (id) =>
          router.getReadConnection({ orgId: 1 })
            .queryRow`SELECT id, v FROM read_path_bench WHERE id = ${id}`,
      };
    };
    const variants: Variant[] = [
      { name: "direct", read: (id) => one.query(SQL, [id]) },
      { name: "floor", read: (id) => rr[next++ & 1]!.query(SQL, [id]) },
      // The same as the floor on pools of its own: the harness's own noise.
      { name: "floor A/A", read: (id) => rr2[next2++ & 1]!.query(SQL, [id]) },
      await routerVariant("router", {}),
      await routerVariant("no hedge", { REPLICA_HEDGE_MAX_EXTRA_LOAD: "0" }),
    ];
    for (const v of variants) await segment(v, 16, 500); // warm up

    console.log(
      `${ROUNDS} rounds x ${SEGMENT_MS} ms per variant; medians; ratio = reads/s ÷ floor's in the same round`,
    );
    console.log(
      "c\tvariant\t÷floor\treads/s\tcpu µs/read\t−floor\tuser −floor\tp99 ms\thedged\tgoal (≥0.95, ≤+5 µs)",
    );
    for (const c of ROUNDS > 0 ? CONCURRENCY : []) {
      const results = new Map<string, Segment[]>(
        variants.map((v) => [v.name, []]),
      );
      for (let round = 0; round < ROUNDS; round++) {
        // A fresh order each round: no variant always follows the same one
        // (and inherits its garbage or its connections' leftovers).
        for (const v of shuffled(variants))
          results.get(v.name)!.push(await segment(v, c, SEGMENT_MS));
      }
      const floor = results.get("floor")!;
      for (const v of variants) {
        const segs = results.get(v.name)!;
        const ratio = median(segs.map((s, i) => s.rate / floor[i]!.rate));
        const extraUs = median(segs.map((s, i) => s.cpuUs - floor[i]!.cpuUs));
        const goal =
          v.hedges === undefined
            ? ""
            : ratio >= 0.95 && extraUs <= 5
              ? "met"
              : "missed";
        console.log(
          [
            c,
            v.name,
            ratio.toFixed(2),
            Math.round(median(segs.map((s) => s.rate))),
            median(segs.map((s) => s.cpuUs)).toFixed(1),
            extraUs.toFixed(1),
            median(segs.map((s, i) => s.userUs - floor[i]!.userUs)).toFixed(1),
            median(segs.map((s) => s.p99)).toFixed(2),
            `${((100 * sum(segs, "hedges")) / sum(segs, "reads")).toFixed(2)}%`,
            goal,
          ].join("\t"),
        );
      }
    }
    if (PROFILE) await profile(variants);
  } finally {
    await Promise.allSettled(routers.map((r) => r.close()));
    await Promise.allSettled(pools.map((p) => p.end()));
    await removeLocalCluster(dir);
  }
}

/** Profiles floor, router and no hedge interleaved at c=16 and c=64; prints where each spends its time. */
async function profile(variants: Variant[]): Promise<void> {
  const byName = new Map(variants.map((v) => [v.name, v]));
  const names = ["floor", "router", "no hedge"];
  for (const c of [16, 64]) {
    const frames = await profileInterleaved(
      names,
      Math.max(3, Math.round(ROUNDS / 2)),
      async (name) => (await segment(byName.get(name)!, c, SEGMENT_MS)).reads,
      shuffled,
    );
    console.log(`\n--- profile, c=${c} (interleaved segments) ---`);
    printFrames(frames, "router", "floor", 25);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

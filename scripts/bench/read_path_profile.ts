/**
 * Where a routed read spends its client CPU against the floor, on a real
 * cluster of its own (primary + 2 streaming replicas under .data/, removed
 * at the end): floor (plain round-robin over one `pg.Pool` per replica),
 * router (`loadConfig` defaults, the Prometheus RouterMetrics observer
 * attached as `npm start` does) and no hedge (REPLICA_HEDGE_MAX_EXTRA_LOAD=0)
 * take turns in short segments under the CPU profiler (read_path_frames.ts),
 * and each sample is charged to the variant whose segment it fell in and to
 * its nearest JS frame. Prints sampled µs per read by area, the router's top
 * self-time frames, and where it spends more than the floor.
 *
 * The throughput and CPU tables themselves are `npm run bench -- --only
 * overhead` (hot_path*.ts); this uses their segments and rounds.
 *
 *   npx tsx scripts/bench/read_path_profile.ts [--rounds N] [--segment-ms MS] [--conc 16,64]
 */
import path from "node:path";
import v8 from "node:v8";
import pg from "pg";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  removeLocalCluster,
  startLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import { sqlOnce } from "./db";
import { defaultRouter } from "./hot_path_api";
import { ROWS, segment, shuffled, type Variant } from "./hot_path_rounds";
import { printFrames, profileInterleaved } from "./read_path_frames";

// A variant idle while the others run must not lose its compiled code.
v8.setFlagsFromString("--no-flush-bytecode");

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1]!;
};
const ROUNDS = Number(arg("--rounds", "5"));
const SEGMENT_MS = Number(arg("--segment-ms", "400"));
const CONCURRENCY = arg("--conc", "16,64").split(",").map(Number);
const POOL_MAX = 20; // DB_MAX_CONNECTIONS' default
const SQL = "SELECT id, v FROM read_path_bench WHERE id = $1";
const REPO = path.resolve(import.meta.dirname, "../..");

async function waitForRows(url: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const { rows } = await c
      .query("SELECT count(*)::int AS n FROM read_path_bench")
      .catch(() => ({ rows: [{ n: 0 }] }));
    await c.end();
    if (rows[0].n >= ROWS) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("a replica did not catch up within 30 s");
}

async function main(): Promise<void> {
  const dir = path.join(REPO, ".data", `read-path-profile-${process.pid}`);
  const cluster = await startLocalCluster({ dir, replicas: 2 });
  const routers: ReplicaRouter[] = [];
  const pools: pg.Pool[] = [];
  try {
    const replicaUrls = cluster.replicas.map((r) => r.url);
    await sqlOnce(
      cluster.primary.url,
      "CREATE TABLE read_path_bench (id int PRIMARY KEY, v text)",
    );
    await sqlOnce(
      cluster.primary.url,
      "INSERT INTO read_path_bench SELECT g, md5(g::text) FROM generate_series(1, $1) g",
      [ROWS],
    );
    for (const url of replicaUrls) await waitForRows(url);
    const rr = replicaUrls.map((url) => {
      const p = new pg.Pool({ connectionString: url, max: POOL_MAX });
      p.on("error", () => undefined);
      pools.push(p);
      return p;
    });
    let next = 0;
    const routerVariant = async (
      name: string,
      env: Record<string, string>,
    ): Promise<Variant> => {
      const { router } = await defaultRouter(cluster, env);
      routers.push(router);
      return {
        name,
        op: (id) =>
          router.getReadConnection({ orgId: 1 })
            .queryRow`SELECT id, v FROM read_path_bench WHERE id = ${id}`,
      };
    };
    const variants: Variant[] = [
      { name: "floor", op: (id) => rr[next++ & 1]!.query(SQL, [id]) },
      await routerVariant("router", {}),
      await routerVariant("no hedge", { REPLICA_HEDGE_MAX_EXTRA_LOAD: "0" }),
    ];
    for (const v of variants) await segment(v, 16, 500); // warm up
    const byName = new Map(variants.map((v) => [v.name, v]));
    for (const c of CONCURRENCY) {
      const frames = await profileInterleaved(
        variants.map((v) => v.name),
        ROUNDS,
        async (name) => (await segment(byName.get(name)!, c, SEGMENT_MS)).ops,
        shuffled,
      );
      console.log(`\n--- profile, c=${c} (interleaved segments) ---`);
      printFrames(frames, "router", "floor", 25);
    }
  } finally {
    await Promise.allSettled(routers.map((r) => r.close()));
    await Promise.allSettled(pools.map((p) => p.end()));
    await removeLocalCluster(dir);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

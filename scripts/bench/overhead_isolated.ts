/**
 * The router's own CPU cost per read, without a database: every node's pool
 * is a fake whose query() resolves at once with a prepared result. A point
 * read through `router.getReadConnection({ orgId }).queryRow\`...\`` is timed
 * against the same fake pool called directly; the difference is pure router
 * overhead (planning, breaker, bookkeeping, async layers, metrics hooks).
 *
 * Run as its own process (fresh JIT, and AsyncLocalStorage hooks stay off
 * unless `--als` turns them on for every variant):
 *
 *   node --import tsx scripts/bench/overhead_isolated.ts --n 40000 --rounds 5 [--als]
 *     -> one JSON line on stdout: µs per query per variant per round
 *   node --import tsx --cpu-prof --cpu-prof-dir=/tmp/prof scripts/bench/overhead_isolated.ts --profile 1000000
 *     -> only the router+metrics loop, for a CPU profile
 */
import { performance } from "node:perf_hooks";
import { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import type {
  PgClient,
  PgPool,
} from "../../backend/database/router/nodes/pg_pool";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { runWithRequestContext } from "../../backend/database/router/base/request_context";
import { POINT_SQL } from "./common";

/** JSON printed by a measuring run. */
export interface IsolatedResult {
  als: boolean;
  n: number;
  variants: Array<{ name: string; usPerQuery: number[] }>;
  /** Sanity: point reads the fake replica pool answered, per router variant. */
  replicaHits: Record<string, number>;
}

const POINT_RESULT = {
  rows: [{ id: "1", amount_cents: "100", currency: "USD", status: "received" }],
};
const LSN = "0/3000060";

/** A pool that answers at once: the point read, and enough of the probes for the router to trust the replica. */
class FakePool implements PgPool {
  pointHits = 0;
  readonly totalCount = 0;
  readonly idleCount = 0;
  readonly waitingCount = 0;

  constructor(private readonly inRecovery: boolean) {}

  query(
    text: string,
    _values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[] }> {
    if (text === POINT_SQL) {
      this.pointHits++;
      return Promise.resolve(POINT_RESULT);
    }
    // The lag sample (it also asks pg_is_in_recovery(), so it is matched first).
    if (text.includes("AS replay_lsn")) {
      return Promise.resolve({
        rows: [
          {
            in_recovery: this.inRecovery,
            receive_lsn: LSN,
            replay_lsn: LSN,
            replay_age_ms: 0,
            receiver_status: "streaming",
          },
        ],
      });
    }
    if (text.includes("pg_is_in_recovery")) {
      return Promise.resolve({
        rows: [
          {
            in_recovery: this.inRecovery,
            system_identifier: "7300000000000000001",
          },
        ],
      });
    }
    if (text.includes("pg_current_wal"))
      return Promise.resolve({ rows: [{ lsn: LSN }] });
    return Promise.resolve({ rows: [] }); // the catalog of volatile functions: none
  }

  /** One reusable client: the fake's own cost stays out of the router's. */
  private readonly client: PgClient = {
    query: (text: string, values?: unknown[]) => this.query(text, values),
    release: () => undefined,
    processID: 1,
  };

  connect(): Promise<PgClient> {
    // Replica reads check a client out (so a hedge can abandon it).
    return Promise.resolve(this.client);
  }

  on(): this {
    return this;
  }

  end(): Promise<void> {
    return Promise.resolve();
  }
}

async function fakeRouter(
  withMetrics: boolean,
): Promise<{ router: ReplicaRouter; replica: FakePool }> {
  const config = loadConfig({
    DATABASE_URL: "postgres://bench@127.0.0.1:1/app",
    READ_REPLICA_URLS: "postgres://bench@127.0.0.1:2/app",
    LOAD_BALANCING_STRATEGY: "round-robin",
    // Background work would only add noise here.
    REPLICA_HEALTH_CHECK_INTERVAL: "1h",
    REPLICA_LAG_POLL_INTERVAL: "1h",
  });
  const pools: FakePool[] = [];
  const metrics = new RouterMetrics({ defaultMetrics: false });
  const router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    poolFactory: (url) => {
      const pool = new FakePool(!url.includes(":1/"));
      pools.push(pool);
      return pool;
    },
    ...(withMetrics ? { observer: metrics } : {}),
  });
  if (withMetrics) metrics.attach(router.roles);
  await router.start();
  if (router.clusters[0]!.serving.length !== 1)
    throw new Error(
      "fake replica is not serving; the router would read from the primary",
    );
  return { router, replica: pools[1]! };
}

// Point-read keys: a fixed pseudo-random set, the same for every variant.
const KEYS = 4096;
const orgs = Int32Array.from(
  { length: KEYS },
  (_, i) => 1 + ((i * 7919) % 100),
);
const ids = Int32Array.from(
  { length: KEYS },
  (_, i) => 1 + ((i * 104_729) % 10_000),
);
let sink = 0;

type Loop = (n: number) => Promise<void>;

function directLoop(pool: FakePool): Loop {
  return async (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & (KEYS - 1);
      const row =
        (await pool.query(POINT_SQL, [orgs[k], ids[k]])).rows[0] ?? null;
      if (row !== null) sink++;
    }
  };
}

function routerLoop(router: ReplicaRouter): Loop {
  return async (n) => {
    for (let i = 0; i < n; i++) {
      const k = i & (KEYS - 1);
      const orgId = orgs[k]!;
      const id = ids[k]!;
      const row = await router.getReadConnection({ orgId })
        .queryRow`SELECT id, amount_cents, currency, status FROM revenues WHERE org_id = ${orgId} AND id = ${id}`;
      if (row !== null) sink++;
    }
  };
}

/** Runs `loop` inside a request context when `als`, as the HTTP server does for every request. */
function inContext(loop: Loop, als: boolean): Loop {
  if (!als) return loop;
  return (n) =>
    runWithRequestContext(
      { endpoint: "finance.getRevenue", servedBy: [] },
      () => loop(n),
    );
}

async function measure(
  n: number,
  rounds: number,
  als: boolean,
): Promise<IsolatedResult> {
  const direct = new FakePool(true);
  const bare = await fakeRouter(false);
  const withMetrics = await fakeRouter(true);
  const variants: Array<{ name: string; loop: Loop; us: number[] }> = [
    { name: "direct", loop: inContext(directLoop(direct), als), us: [] },
    { name: "router", loop: inContext(routerLoop(bare.router), als), us: [] },
    {
      name: "router+metrics",
      loop: inContext(routerLoop(withMetrics.router), als),
      us: [],
    },
  ];
  for (const v of variants) await v.loop(Math.max(20_000, n / 2)); // warm-up: let the JIT settle
  bare.replica.pointHits = 0;
  withMetrics.replica.pointHits = 0;
  for (let r = 0; r < rounds; r++) {
    // Rotate the order each round, so no variant always runs first after a GC.
    for (let j = 0; j < variants.length; j++) {
      const v = variants[(j + r) % variants.length]!;
      const t0 = performance.now();
      await v.loop(n);
      v.us.push(((performance.now() - t0) * 1000) / n);
    }
  }
  await Promise.all([bare.router.close(), withMetrics.router.close()]);
  return {
    als,
    n,
    variants: variants.map((v) => ({ name: v.name, usPerQuery: v.us })),
    replicaHits: {
      router: bare.replica.pointHits,
      "router+metrics": withMetrics.replica.pointHits,
    },
  };
}

/**
 * The profiled run: warm-up, then `iterations` router+metrics reads. Prints
 * the measured loop's window in µs of the monotonic clock V8 stamps profile
 * samples with, so the summary can leave out start-up (module loading).
 */
async function profile(iterations: number): Promise<void> {
  const { router } = await fakeRouter(true);
  const loop = routerLoop(router);
  await loop(50_000);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  await loop(iterations);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  process.stdout.write(JSON.stringify({ fromUs, toUs }) + "\n");
  await router.close();
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const prof = arg("--profile");
  if (prof !== undefined) {
    await profile(Number(prof));
    return;
  }
  const n = Number(arg("--n") ?? 40_000);
  const rounds = Number(arg("--rounds") ?? 5);
  const result = await measure(n, rounds, process.argv.includes("--als"));
  process.stdout.write(JSON.stringify(result) + "\n");
  if (sink < 0) console.error(sink); // keeps the results observable to the optimiser
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * Database helpers of the benchmark suite: plain pools, routers built the
 * way the service builds them, replication catch-up, and the finance seed.
 * All traffic goes to the local cluster on 127.0.0.1.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { RouterDeps } from "../../backend/database/router/router_deps";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import type {
  ClusterNode,
  LocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import type { Seed } from "./common";

/** A plain `pg.Pool` (no router), with an error listener so a stopped server cannot crash the bench. */
export function plainPool(
  url: string,
  max: number,
  idleTimeoutMillis = 10_000,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    idleTimeoutMillis,
    connectionTimeoutMillis: 5_000,
  });
  pool.on("error", () => {});
  return pool;
}

/** One statement on a short-lived client. */
export async function sqlOnce<R extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
  statementTimeoutMs = 120_000,
): Promise<R[]> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 5_000,
    statement_timeout: statementTimeoutMs,
  });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A started ReplicaRouter over `replicas` of `cluster`, configured through
 * `loadConfig` from `env` (the same path as `npm start`), logging nowhere
 * unless `deps.logger` says otherwise.
 */
export async function startRouter(
  cluster: LocalCluster,
  replicas: readonly ClusterNode[],
  env: Record<string, string> = {},
  deps: RouterDeps = {},
): Promise<ReplicaRouter> {
  const config = loadConfig({
    DB_CONNECTION_TIMEOUT: "5s",
    DB_QUERY_TIMEOUT: "30s",
    ...env,
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: replicas.map((r) => r.url).join(","),
  });
  const router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    ...deps,
  });
  await router.start();
  return router;
}

/**
 * Waits until every running replica has replayed the primary's current WAL
 * position. @returns ms waited. @throws Error after `timeoutMs`.
 */
export async function waitForReplicas(
  cluster: LocalCluster,
  timeoutMs = 60_000,
): Promise<number> {
  const t0 = performance.now();
  const [row] = await sqlOnce<{ lsn: string }>(
    cluster.primary.url,
    "SELECT pg_current_wal_lsn()::text AS lsn",
  );
  const target = row!.lsn;
  for (const replica of cluster.replicas) {
    for (;;) {
      const [r] = await sqlOnce<{ ok: boolean }>(
        replica.url,
        "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok",
        [target],
      );
      if (r?.ok) break;
      if (performance.now() - t0 > timeoutMs)
        throw new Error(
          `${replica.name} did not replay ${target} within ${timeoutMs} ms`,
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return performance.now() - t0;
}

/** Revenues (and expenses) seeded for orgs 1..SEED_ORGS. */
const SEED_ROWS = 10_000;
const SEED_ORGS = 100;

/**
 * Migrates the primary (finance schema), inserts {@link SEED_ROWS} revenues
 * and expenses spread over orgs 1..{@link SEED_ORGS} with one
 * `INSERT ... SELECT generate_series`, vacuums, and waits for the replicas.
 */
export async function seedFinance(cluster: LocalCluster): Promise<Seed> {
  const url = cluster.primary.url;
  await runMigrations(url, MIGRATIONS_DIR);
  for (const table of ["revenues", "expenses"]) {
    const done = table === "revenues" ? "received" : "paid";
    await sqlOnce(
      url,
      `INSERT INTO ${table} (org_id, amount_cents, currency, status, description, occurred_at)
       SELECT 1 + (g % ${SEED_ORGS}), (g::bigint * 7919) % 1000000, (ARRAY['USD','EUR','GBP'])[1 + g % 3],
              (ARRAY['pending','${done}','cancelled'])[1 + (g / 7) % 3], 'seed row ' || g,
              timestamptz '2025-01-01 00:00:00+00' + g * interval '37 minutes'
       FROM generate_series(1, ${SEED_ROWS}) AS g`,
    );
  }
  await sqlOnce(url, "VACUUM ANALYZE revenues");
  await sqlOnce(url, "VACUUM ANALYZE expenses");
  const rows = await sqlOnce<{ org_id: string; id: string }>(
    url,
    "SELECT org_id::text, id::text FROM revenues ORDER BY id",
  );
  const orgOf = new Int32Array(rows.length);
  const idOf = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    orgOf[i] = Number(r.org_id);
    idOf[i] = Number(r.id);
  });
  await waitForReplicas(cluster);
  return {
    orgIds: Array.from({ length: SEED_ORGS }, (_, i) => i + 1),
    orgOf,
    idOf,
  };
}

/** Reads routed to the primary and to the replicas of the main cluster so far. */
export function readCounts(router: ReplicaRouter): {
  primary: number;
  replicas: number;
} {
  const c = router.clusters[0]!;
  return {
    primary: c.primary.reads,
    replicas: c.replicas.reduce((n, r) => n + r.reads, 0),
  };
}

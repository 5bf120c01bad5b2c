/**
 * Scenario 2, failover: 16 concurrent point-read loops while replica_1 is
 * killed (`pg_ctl stop -m immediate`) and started again 5 s later.
 *
 * Router: built with loadConfig + new ReplicaRouter (health check every 1 s,
 * breaker open for 5 s, lag poll 250 ms). Every read is logged as (end time,
 * node that served it, or failure); the observer's onRoute hook notes every
 * routing decision, including attempts that failed and were retried.
 * Naive: round-robin over two plain pg.Pools, no health checks, no retry.
 */
import { performance } from "node:perf_hooks";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import type { Logger } from "../../backend/database/router/support/logger";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { BenchContext, Section } from "./common";
import { POINT_SQL, rng, sleep } from "./common";
import { plainPool, startRouter } from "./db";
import { drive, LOG_CAP, newLog, VICTIM, type Schedule } from "./failover_log";
import { OPEN_MS, report, type RouterEvent } from "./failover_report";

/** Scenario entry point. */
export async function failover(ctx: BenchContext): Promise<Section> {
  const schedule: Schedule = {
    killAtMs: ctx.quick ? 1_500 : 3_000,
    settleMs: ctx.quick ? 1_000 : 2_000,
    maxAfterRestartMs: 20_000,
  };
  const { orgOf, idOf } = ctx.seed;

  // --- through the router ---------------------------------------------------------
  const events: RouterEvent[] = [];
  const capture: Logger = {
    info() {},
    warn: (message, fields = {}) =>
      void events.push({ t: performance.now(), message, fields }),
    error: (message, fields = {}) =>
      void events.push({ t: performance.now(), message, fields }),
  };
  const r = newLog(LOG_CAP);
  const victimRoutes = { down: 0, last: -Infinity };
  const router: ReplicaRouter = await startRouter(
    ctx.cluster,
    ctx.cluster.replicas,
    {
      REPLICA_HEALTH_CHECK_INTERVAL: "1s",
      CIRCUIT_BREAKER_OPEN_DURATION: `${OPEN_MS}ms`,
      REPLICA_LAG_POLL_INTERVAL: "250ms",
      DB_CONNECTION_TIMEOUT: "2s",
      DB_MAX_CONNECTIONS: "20",
    },
    {
      logger: capture,
      observer: {
        // Every routing decision, including attempts that fail and are retried elsewhere.
        onRoute(node: DbNode) {
          if (node.name !== VICTIM) return;
          const t = performance.now();
          if (t >= r.tKill && t < r.tRestart) {
            victimRoutes.down++;
            victimRoutes.last = t;
          }
        },
      },
    },
  );
  ctx.log("failover: router run (kill replica_1, restart 5 s later)");
  const rand = rng(7);
  try {
    await drive(
      ctx,
      r,
      async () => {
        const k = Math.floor(rand() * orgOf.length);
        const orgId = orgOf[k]!;
        const id = idOf[k]!;
        const conn = router.getReadConnection({ orgId });
        await conn.queryRow`SELECT id, amount_cents, currency, status FROM revenues WHERE org_id = ${orgId} AND id = ${id}`;
        return conn.servedBy;
      },
      schedule,
    );
  } finally {
    await router.close();
  }

  // --- naive round-robin over two plain pools -------------------------------------
  ctx.log("failover: naive round-robin run");
  await sleep(500);
  const pools = ctx.cluster.replicas.map((n) => plainPool(n.url, 20));
  let next = 0;
  const rand2 = rng(7);
  const n = newLog(LOG_CAP);
  try {
    await drive(
      ctx,
      n,
      async () => {
        const k = Math.floor(rand2() * orgOf.length);
        const i = next++ % pools.length;
        await pools[i]!.query(POINT_SQL, [orgOf[k], idOf[k]]);
        return ctx.cluster.replicas[i]!.name;
      },
      { ...schedule, settleMs: 1_000 },
    );
  } finally {
    await Promise.allSettled(pools.map((p) => p.end()));
  }

  return report(r, n, events, victimRoutes, schedule);
}

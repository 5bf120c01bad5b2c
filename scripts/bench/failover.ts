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
import type { BenchContext, Section, Table } from "./common";
import { fmt, fmtInt, pct, POINT_SQL, rng, sleep } from "./common";
import { plainPool, startRouter } from "./db";
import {
  backToShare,
  CONCURRENCY,
  count,
  drive,
  firstTime,
  lastTime,
  LOG_CAP,
  maxLatency,
  newLog,
  rate,
  VICTIM,
  type RunLog,
  type Schedule,
} from "./failover_log";

/** "123 ms", or "never" for an event that did not happen. */
const ms = (x: number) => (Number.isFinite(x) ? `${fmtInt(x)} ms` : "never");

/** Scenario entry point. */
export async function failover(ctx: BenchContext): Promise<Section> {
  const schedule: Schedule = {
    killAtMs: ctx.quick ? 1_500 : 3_000,
    settleMs: ctx.quick ? 1_000 : 2_000,
    maxAfterRestartMs: 20_000,
  };
  const { orgOf, idOf } = ctx.seed;

  // --- through the router ---------------------------------------------------------
  const events: Array<{
    t: number;
    message: string;
    fields: Record<string, unknown>;
  }> = [];
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
      CIRCUIT_BREAKER_OPEN_DURATION: "5s",
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

function report(
  r: RunLog,
  n: RunLog,
  events: Array<{
    t: number;
    message: string;
    fields: Record<string, unknown>;
  }>,
  victimRoutes: { down: number; last: number },
  schedule: Schedule,
): Section {
  const rows: string[][] = [];
  const row = (label: string, router: string, naive: string) =>
    rows.push([label, router, naive]);
  // From the kill until startNode() returned: replica_1 is down or just coming back.
  const outage = (log: RunLog) =>
    count(log, (i) => log.tEnd[i]! >= log.tKill && log.tEnd[i]! < log.tUp);
  const failed = (log: RunLog) => count(log, (i) => log.who[i] === -1);
  const failedInOutage = (log: RunLog) =>
    count(
      log,
      (i) =>
        log.who[i] === -1 &&
        log.tEnd[i]! >= log.tKill &&
        log.tEnd[i]! < log.tUp,
    );
  row("reads in total", fmtInt(r.n), fmtInt(n.n));
  row("failed reads (goal 0)", fmtInt(failed(r)), fmtInt(failed(n)));
  row(
    "failed share of reads from kill until startNode() returned",
    pct(failedInOutage(r), outage(r) || 1, 2),
    pct(failedInOutage(n), outage(n) || 1, 2),
  );
  const lastServedDown = (log: RunLog) =>
    lastTime(
      log,
      (i) =>
        log.who[i] === 1 &&
        log.tEnd[i]! >= log.tKill &&
        log.tEnd[i]! < log.tRestart,
    );
  row(
    "kill → last read served by replica_1",
    ms(lastServedDown(r) - r.tKill),
    ms(lastServedDown(n) - n.tKill),
  );
  row(
    "kill → last read routed to replica_1 (incl. failed attempts)",
    ms(victimRoutes.last - r.tKill),
    "(every 2nd read until restart)",
  );
  row(
    "reads routed to replica_1 while it was down",
    `${fmtInt(victimRoutes.down)} (each retried elsewhere)`,
    `${fmtInt(count(n, (i) => n.who[i] === -1 && n.tEnd[i]! >= n.tKill && n.tEnd[i]! < n.tRestart))} (each failed)`,
  );
  const firstBack = (log: RunLog) =>
    firstTime(log, (i) => log.who[i] === 1 && log.tEnd[i]! >= log.tRestart);
  row(
    "restart (pg_ctl start) → replica_1 serves again",
    ms(firstBack(r) - r.tRestart),
    ms(firstBack(n) - n.tRestart),
  );
  row(
    "restart → replica_1 back to ≥ 40 % of reads (250 ms window)",
    ms(backToShare(r, r.tRestart, 0.4) - r.tRestart),
    ms(backToShare(n, n.tRestart, 0.4) - n.tRestart),
  );
  row(
    "restart → startNode() returned (accepting and streaming again)",
    ms(r.tUp - r.tRestart),
    ms(n.tUp - n.tRestart),
  );
  row(
    "reads/s before the kill",
    fmtInt(rate(r, r.tStart + 500, r.tKill)),
    fmtInt(rate(n, n.tStart + 500, n.tKill)),
  );
  row(
    "successful reads/s while replica_1 was down",
    fmtInt(rate(r, r.tKilled, r.tRestart) - rate(r, r.tKilled, r.tRestart, -1)),
    fmtInt(rate(n, n.tKilled, n.tRestart) - rate(n, n.tKilled, n.tRestart, -1)),
  );
  row(
    "slowest read around the kill (kill ± 1 s)",
    `${fmt(maxLatency(r, r.tKill - 1000, r.tKill + 1000), 1)} ms`,
    `${fmt(maxLatency(n, n.tKill - 1000, n.tKill + 1000), 1)} ms`,
  );

  const timeline: string[][] = [];
  for (const e of events) {
    const node = String(e.fields.node ?? "");
    if (node !== VICTIM) continue;
    const what =
      e.message === "circuit breaker state changed"
        ? `circuit ${String(e.fields.from)} → ${String(e.fields.to)}`
        : e.message === "node health changed"
          ? `health ${String(e.fields.from)} → ${String(e.fields.to)}`
          : e.message;
    const reason = String(e.fields.reason ?? e.fields.error ?? "").slice(0, 90);
    if (
      e.message === "replica query failed; retrying elsewhere" &&
      timeline.some((t) => t[1] === what)
    )
      continue;
    timeline.push([`${fmt((e.t - r.tKill) / 1000, 3)} s`, what, reason]);
  }
  const distinctErrors = [
    ...new Set(n.errors.map((m) => m.slice(0, 80))),
  ].slice(0, 3);
  const tables: Table[] = [
    {
      title:
        "Reads while replica_1 is killed and restarted 5 s later (16 concurrent readers)",
      headers: ["", "router", "naive round-robin"],
      rows,
    },
    {
      title:
        "Router events for replica_1 (time relative to the kill; retry warnings shown once)",
      headers: ["t", "event", "reason"],
      rows: timeline.slice(0, 20),
    },
  ];
  return {
    id: "failover",
    title: "Failover: a replica dies under load",
    method: [
      `${CONCURRENCY} workers read by primary key in a loop. ${schedule.killAtMs / 1000} s in, replica_1 is stopped with ` +
        "`pg_ctl stop -m immediate` (in-flight queries and idle connections die); 5 s after the kill it is started again " +
        "(`cluster.startNode`, which returns once it accepts connections and streams). The run ends once replica_1 has served " +
        `again for ${schedule.settleMs / 1000} s (at most 20 s after the restart). Router: \`loadConfig\` + \`new ReplicaRouter\`, ` +
        "REPLICA_HEALTH_CHECK_INTERVAL=1s, CIRCUIT_BREAKER_OPEN_DURATION=5s, REPLICA_LAG_POLL_INTERVAL=250ms, both replicas. " +
        "Naive: round-robin over two plain pg.Pools (max 20 each), no health checks, no retry; same schedule.",
    ],
    tables,
    notes: [
      `Router: ${failed(r) === 0 ? "0 failed reads (goal met)" : `${failed(r)} failed reads (goal 0 missed): ${[...new Set(r.errors)].slice(0, 3).join("; ")}`}.`,
      `Naive: ${fmtInt(failed(n))} failed reads${distinctErrors.length > 0 ? ` (${distinctErrors.join("; ")})` : ""}; ` +
        "it fails fast on a refused connection, so its failure count scales with how fast the loop spins, and its share is the meaningful number.",
      '"Serves again" for the router is bounded below by the breaker: it stays open 5 s after it opened, then needs ' +
        "CIRCUIT_BREAKER_SUCCESS_THRESHOLD (5) successful trial queries, one at a time.",
    ],
  };
}

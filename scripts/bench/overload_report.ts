/**
 * The overload scenario's section: one row per figure, one column per
 * client count, each judged against its goal where it has one.
 */
import type { Section } from "./common";
import { fmt, fmtInt, percentile, pct } from "./common";
import { type Goal, matrixRow, NONE, under } from "./goals";
import type { ClientFigures } from "./overload_clients";
import type { ProberFigures } from "./overload_prober";
import type { serverSideTimes } from "./service";

/** Distinct seeded rows the clients cycle through. */
export const KEYS = 1_000;

/** Everything measured at one client count. */
export interface Level {
  clients: number;
  loadMs: number;
  load: ClientFigures;
  outside: ProberFigures;
  health: number[];
  status: number[];
  server: ReturnType<typeof serverSideTimes>;
  /** The service's event-loop delay during the load (prom-client's histogram since the warm-up's scrape), ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Stall-watch verdicts during the load, over both replicas. */
  stalls: { suspected: number; withheld: number };
  rssBefore: number;
  rssPeak: number;
}

/** The section for `levels`, each loaded for `loadMs`. */
export function report(levels: readonly Level[], loadMs: number): Section {
  const rows: string[][] = [];
  /** A row: `value` per level, shown by `show`; judged against `goal` when given. */
  const row = (
    label: string,
    value: (l: Level) => number,
    show: (x: number, l: Level) => string,
    goal?: Goal,
  ) => {
    rows.push(
      matrixRow({
        label,
        columns: levels,
        name: (l) => `${fmtInt(l.clients)} clients`,
        value,
        show,
        ...(goal === undefined ? {} : { goal }),
      }),
    );
  };
  const all = (l: Level) =>
    Object.values(l.load.statuses).reduce((a, b) => a + b, 0);
  const served = (l: Level) => l.load.statuses["200"] ?? 0;
  const shed = (l: Level) => l.load.statuses["503"] ?? 0;
  const ms = (x: number) => `${fmt(x, 1)} ms`;
  row("requests answered", all, (x) => fmtInt(x));
  row(
    "served (200) per second",
    (l) => served(l) / (l.loadMs / 1000),
    (x) => fmtInt(x),
  );
  row(
    "shed share (503 / all)",
    (l) => shed(l) / (all(l) || 1),
    (_, l) => pct(shed(l), all(l), 1),
  );
  row(
    "503s without Retry-After",
    (l) => l.load.missingRetryAfter,
    fmtInt,
    NONE,
  );
  row(
    "other statuses and socket errors",
    (l) => all(l) - served(l) - shed(l) + l.load.errors,
    fmtInt,
    NONE,
  );
  row(
    "health p99, keep-alive prober",
    (l) => percentile(l.health, 99),
    ms,
    under(200, " ms"),
  );
  row(
    "status p99, keep-alive prober",
    (l) => percentile(l.status, 99),
    ms,
    under(200, " ms"),
  );
  row(
    "health p99, separate process, new connection per probe",
    (l) => percentile(l.outside.ms, 99),
    ms,
    under(200, " ms"),
  );
  row(
    "… its p50; TCP connect p99 within",
    (l) => percentile(l.outside.ms, 50),
    (x, l) =>
      `${fmt(x, 1)} ms; ${fmt(percentile(l.outside.connectMs, 99), 1)} ms`,
  );
  row(
    "health probes that failed (separate process)",
    (l) => l.outside.failed,
    fmtInt,
    NONE,
  );
  row(
    "API requests answered after 2.5 s (server-side)",
    (l) => l.server.over2500ms,
    (x, l) => `${fmtInt(x)} of ${fmtInt(l.server.api)}`,
    NONE,
  );
  row(
    "API requests answered after 1 s (server-side)",
    (l) => l.server.over1s,
    (x, l) => pct(x, l.server.api, 2),
  );
  row(
    "slowest answer, client-side (any request)",
    (l) => Math.max(l.load.maxMs, l.load.maxFirstMs),
    ms,
    under(3_000, " ms"),
  );
  row("served p50, client-side", (l) => l.load.servedP50 ?? NaN, ms);
  row("served p99, client-side", (l) => l.load.servedP99 ?? NaN, ms);
  row(
    "slowest request on an open connection, client-side",
    (l) => l.load.maxMs,
    ms,
  );
  row(
    "slowest first request (opens the connection)",
    (l) => l.load.maxFirstMs,
    ms,
  );
  row("… of which the longest TCP connect", (l) => l.load.maxConnectMs, ms);
  row(
    "service's event-loop delay p99 / max",
    (l) => l.loopP99Ms,
    (x, l) => `${fmt(x, 1)} / ${fmt(l.loopMaxMs, 1)} ms`,
  );
  row(
    "replicas taken out for silence (suspected) / found silent but kept (withheld)",
    (l) => l.stalls.suspected,
    (x, l) => `${fmtInt(x)} / ${fmtInt(l.stalls.withheld)}`,
    NONE,
  );
  row(
    "load generator's event-loop delay p99 / max",
    (l) => l.load.loopP99Ms,
    (x, l) => `${fmt(x, 1)} / ${fmt(l.load.loopMaxMs, 1)} ms`,
  );
  row(
    "service RSS growth (before → peak)",
    (l) => l.rssPeak - l.rssBefore,
    (x, l) =>
      `+${fmt(x, 0)} MiB (${fmt(l.rssBefore, 0)} → ${fmt(l.rssPeak, 0)})`,
    under(256, " MiB"),
  );
  const probes = levels
    .map(
      (l) =>
        `${fmtInt(l.health.length)} / ${fmtInt(l.status.length)} / ${fmtInt(l.outside.ok + l.outside.failed)}`,
    )
    .join(" and ");
  const errors = [
    ...new Set(
      levels.flatMap((l) => [
        ...l.load.firstErrors,
        ...l.outside.firstFailures,
        ...Object.entries(l.load.statuses)
          .filter(([status]) => status !== "200" && status !== "503")
          .map(
            ([status, n]) =>
              `HTTP ${status} × ${n} at ${fmtInt(l.clients)} clients`,
          ),
      ]),
    ),
  ];
  return {
    id: "overload",
    title: "Overload: thousands of clients on one service",
    method: [
      "The standalone service runs as its own process (`node --import tsx backend/standalone/main.ts`, as `npm start` runs it) " +
        "against the bench cluster with **default settings** (DB_MAX_CONNECTIONS 20, DB_POOL_QUEUE_TIMEOUT 1 s, DB_POOL_QUEUE_MAX 1,000 per node; cache on), " +
        "a fresh process per client count. " +
        `A load generator in another process opens N keep-alive connections at once, each issuing point reads of ${fmtInt(KEYS)} seeded rows ` +
        `(\`GET /v1/finance/orgs/:org/revenues/:id\`, not cached) back to back for ${loadMs / 1000} s; after a 503 a client waits its Retry-After. ` +
        "From 1.5 s in, the bench process probes health and status back to back on one keep-alive connection each, and a third process probes " +
        "health every 20 ms on a new TCP connection each time (an outside load balancer). Server-side times come from the service's own " +
        "`http_request_duration_seconds` (arrival to response sent); RSS from /proc.",
    ],
    tables: [
      {
        title: `${levels.map((l) => fmtInt(l.clients)).join(" / ")} concurrent clients for ${loadMs / 1000} s each`,
        headers: [
          "figure",
          "goal",
          ...levels.map((l) => `${fmtInt(l.clients)} clients`),
          "verdict",
        ],
        rows,
      },
    ],
    notes: [
      "Goals (issue 20, formerly asserted by test/integration/overload.test.ts with DB_POOL_QUEUE_TIMEOUT shortened to 250 ms; here the defaults; issue 22 added the client-side bound and the stall verdicts): " +
        "health and status p99 under 200 ms, every answer 200 or 503 with Retry-After, none later than 2.5 s as the service timed it nor 3 s as a client saw it, " +
        "no replica taken out for a slowness every replica shares, RSS growth under 256 MiB.",
      "Client-side times include the load generator's own event loop (its delay is shown) and, for a client's first request, the wait to be accepted: " +
        "libuv accepts one connection per listening handle per loop turn, so the service listens with 16 handles on its socket (backend/standalone/accept_handles.ts). " +
        "At 5,000 clients the burst also exceeds the listen backlog (the kernel's somaxconn, 4,096), so some connections wait for a SYN retry (1, 3, 7 s).",
      "Event-loop delays are prom-client's `nodejs_eventloop_lag_p99_seconds` / `_max_seconds` of the service (reset by a scrape just before the load; they include its 10 ms sampling interval) and the generator's own monitorEventLoopDelay. " +
        "Stall verdicts are the service's `replica_stalls_total` over both replicas: suspected = taken out of rotation until a probe answered; withheld = found silent past its deadline but kept, no peer showing that answers could arrive (or all the other replicas being out already).",
      `Probes per level (keep-alive health / status / separate process): ${probes}.`,
      ...(errors.length > 0
        ? [`Errors seen: ${errors.slice(0, 4).join("; ")}.`]
        : []),
    ],
  };
}

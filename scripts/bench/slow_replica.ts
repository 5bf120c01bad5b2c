/**
 * Scenario "slow replica": 8 concurrent point-read loops while replica_1 is
 * frozen (SIGSTOP of every process of its server: nothing fails, nothing
 * answers) and thawed again. The same run three times, each with a fresh
 * router: the defaults (hedged reads and the stall watch), hedging off (the
 * stall watch alone), and neither (the per-attempt deadline raised to the
 * statement timeout: how the router behaved before either existed). A
 * fourth run, with the defaults, holds every byte to and from replica_2
 * instead (a silent network drop through a loopback proxy).
 */
import { performance } from "node:perf_hooks";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import type { RouteReason } from "../../backend/database/router/read_planner";
import { freeze, SilentProxy } from "../faults";
import type { ClusterNode } from "../../backend/standalone/local_cluster/local_cluster";
import type { BenchContext, Section } from "./common";
import { fmt, fmtInt, pct, percentile, POINT_SQL, rng, sleep } from "./common";
import { startRouter } from "./db";
import { matrixRow, NONE, under, type Goal } from "./goals";

const READERS = 8;

interface Variant {
  readonly label: string;
  readonly env: Record<string, string>;
  /** SIGSTOP of replica_1 (default), or replica_2's network silently held. */
  readonly fault?: "silent";
}

const VARIANTS: readonly Variant[] = [
  { label: "defaults: hedging + stall watch", env: {} },
  {
    label: "hedging off (stall watch only)",
    env: { REPLICA_HEDGE_MAX_EXTRA_LOAD: "0" },
  },
  {
    label: "neither (deadline = statement timeout)",
    env: {
      REPLICA_HEDGE_MAX_EXTRA_LOAD: "0",
      REPLICA_ATTEMPT_DEADLINE_MIN: "30s",
      REPLICA_ATTEMPT_DEADLINE_MAX: "30s",
    },
  },
  {
    label: "defaults, silent network drop of replica_2 instead",
    env: {},
    fault: "silent",
  },
];

/** What one variant's run measured. */
interface Result {
  row: string[];
  /** Reads that started during the fault: failed, slowest ms, p99 ms, fewest completed in a half second. */
  failed: number;
  maxMs: number;
  p99Ms: number;
  emptiest: number;
  /** Fault ended → end of the first read started after it and served by the victim, ms. */
  backMs: number;
  /** Over the healthy stretch before the fault: reads routed, and hedges. */
  healthyReads: number;
  healthyHedges: number;
}

/** Scenario entry point. */
export async function slowReplica(ctx: BenchContext): Promise<Section> {
  const faultMs = ctx.quick ? 4_000 : 15_000;
  const results: Result[] = [];
  for (const v of VARIANTS) {
    ctx.log(`slow replica: ${v.label}`);
    // Only the defaults hedge: they get the long healthy stretch.
    const hedging = v.env.REPLICA_HEDGE_MAX_EXTRA_LOAD === undefined;
    const healthyMs = hedging ? (ctx.quick ? 3_000 : 8_000) : 1_000;
    results.push(await runVariant(ctx, v, faultMs, healthyMs));
    await sleep(2_000); // let replica_1 settle between runs
  }
  const rows = results.map((r) => r.row);
  const runs = [
    { name: "SIGSTOP of replica_1", r: results[0]! },
    { name: "silent drop of replica_2", r: results[3]! },
  ];
  const ms = (x: number, digits = 0) =>
    Number.isFinite(x)
      ? `${digits === 0 ? fmtInt(x) : fmt(x, digits)} ms`
      : "never";
  const goal = (
    label: string,
    value: (r: Result) => number,
    show: (x: number, r: Result) => string,
    g: Goal,
  ) =>
    matrixRow({
      label,
      columns: runs,
      name: (c) => c.name,
      value: (c) => value(c.r),
      show: (x, c) => show(x, c.r),
      goal: g,
    });
  const goals = [
    goal("failed reads", (r) => r.failed, fmtInt, NONE),
    goal(
      "slowest read",
      (r) => r.maxMs,
      (x) => ms(x),
      under(1_000, " ms"),
    ),
    goal(
      "p99 during the fault",
      (r) => r.p99Ms,
      (x) => ms(x, 1),
      under(250, " ms"),
    ),
    goal("fewest reads completed in a half second", (r) => r.emptiest, fmtInt, {
      text: "> 0",
      ok: (x) => x > 0,
    }),
    goal(
      "fault ends → the replica serves again",
      (r) => r.backMs,
      (x) => ms(x),
      under(1_500, " ms"),
    ),
    goal(
      "hedges over the healthy stretch, share of reads",
      (r) => r.healthyHedges / r.healthyReads,
      (_, r) =>
        `${pct(r.healthyHedges, r.healthyReads, 2)} (${fmtInt(r.healthyHedges)} of ${fmtInt(r.healthyReads)})`,
      { text: "< 5 %", ok: (x) => x < 0.05 },
    ),
  ];
  return {
    id: "slow_replica",
    title: "Slow replica: one replica frozen or silent under load",
    method: [
      `${READERS} concurrent loops of the point read by primary key through the router, against the primary and 2 replicas. ` +
        `After 2 s of warm-up and a healthy stretch (${(ctx.quick ? 3_000 : 8_000) / 1000} s with the defaults, over which their hedge share is counted; 1 s for the others), ` +
        `every process of replica_1 is stopped with SIGSTOP for ${faultMs / 1000} s, then continued. In the last row replica_2 is reached through a loopback proxy ` +
        `that instead holds every byte both ways for ${faultMs / 1000} s (a silent network drop: sockets stay open, nothing arrives, nothing errors). ` +
        'The figures cover the reads that started during the fault; "serves again" is the first read started after it ended that the affected replica answered. Each row is a fresh router.',
      "Hedging (REPLICA_HEDGE_MAX_EXTRA_LOAD, default 0.05): a read slower than the cluster's recent p99 (10 ms at least) is sent to another eligible replica too and the first answer wins; the loser is cancelled. " +
        "Stall watch (REPLICA_ATTEMPT_DEADLINE_MIN/MAX, default 100 ms / 1 s): a replica with a read outstanding past 4 x its p99 that answered nothing since is taken out of rotation until a probe answers; if the probe times out too, its outstanding reads move elsewhere.",
    ],
    tables: [
      {
        headers: [
          "variant",
          "reads during the fault",
          "failed",
          "p50 ms",
          "p99 ms",
          "max ms",
          "hedges",
          "slowest half second (reads completed)",
          "fault ends → it serves again",
        ],
        rows,
      },
      {
        title: "Goals, with the defaults (first and last row)",
        headers: ["figure", "goal", ...runs.map((r) => r.name), "verdict"],
        rows: goals,
      },
    ],
    notes: [
      "Goals (issue 10; issue 20 moved them here from test/integration/stall.test.ts), with the defaults: 0 failed reads, none slower than 1 s, " +
        "p99 under 250 ms, reads completing throughout, the replica serving again within 1.5 s of the fault's end, and hedging under 5 % extra reads on a healthy cluster.",
      "The third row is the behaviour before hedging and the stall watch: readers that reached the frozen replica waited for it.",
    ],
  };
}

async function runVariant(
  ctx: BenchContext,
  v: Variant,
  faultMs: number,
  healthyMs: number,
): Promise<Result> {
  let hedges = 0;
  let routes = 0;
  const [r1, r2] = ctx.cluster.replicas as [ClusterNode, ClusterNode];
  // The silent drop: replica_2 reached through a proxy that can hold every byte.
  const proxy =
    v.fault === "silent"
      ? new SilentProxy({ host: "127.0.0.1", port: r2.port })
      : null;
  const replicas =
    proxy === null
      ? [r1, r2]
      : [
          r1,
          {
            ...r2,
            url: r2.url.replace(`:${r2.port}/`, `:${await proxy.listen()}/`),
          },
        ];
  const victim = proxy === null ? r1.name : r2.name;
  const router = await startRouter(ctx.cluster, replicas, v.env, {
    observer: {
      onRoute(_n: DbNode, _e: string, reason: RouteReason) {
        if (reason === "hedge") hedges++;
        else routes++;
      },
    },
  });
  const { orgOf, idOf } = ctx.seed;
  const samples: {
    start: number;
    end: number;
    ok: boolean;
    node: string | null;
  }[] = [];
  let stop = false;
  const reader = async (i: number) => {
    const next = rng(1000 + i);
    while (!stop) {
      const k = Math.floor(next() * orgOf.length);
      const start = performance.now();
      const conn = router.getReadConnection();
      let ok = true;
      try {
        await conn.rawQueryAll(POINT_SQL, orgOf[k]!, idOf[k]!);
      } catch {
        ok = false;
      }
      samples.push({ start, end: performance.now(), ok, node: conn.servedBy });
    }
  };
  const readers = Array.from({ length: READERS }, (_, i) => reader(i));
  try {
    await sleep(2_000); // warm the latency windows
    const healthy = { routes, hedges };
    await sleep(healthyMs);
    const healthyReads = routes - healthy.routes;
    const healthyHedges = hedges - healthy.hedges;
    const hedgesBefore = hedges;
    const thaw =
      proxy === null ? freeze(r1) : (proxy.hold(true), () => proxy.hold(false));
    const from = performance.now();
    let to = from;
    try {
      await sleep(faultMs);
    } finally {
      thaw();
      to = performance.now();
    }
    const hedgesDuring = hedges - hedgesBefore;
    // Let reads stuck on the affected replica finish (they may be the slowest).
    await sleep(2_000);
    stop = true;
    await Promise.all(readers);
    const during = samples.filter((s) => s.start >= from && s.start <= to);
    const ms = during.map((s) => s.end - s.start).sort((a, b) => a - b);
    const halves = Math.floor((to - from) / 500);
    const perHalf = new Array<number>(halves).fill(0);
    for (const s of samples) {
      const h = Math.floor((s.end - from) / 500);
      if (h >= 0 && h < halves) perHalf[h]!++;
    }
    const back = samples
      .filter((s) => s.start >= to && s.ok && s.node === victim)
      .reduce((m, s) => Math.min(m, s.end), Infinity);
    const failed = during.filter((s) => !s.ok).length;
    const emptiest = perHalf.reduce((a, b) => Math.min(a, b), Infinity);
    const backMs = back - to;
    return {
      row: [
        v.label,
        fmtInt(during.length),
        fmtInt(failed),
        fmt(percentile(ms, 50), 2),
        fmt(percentile(ms, 99), 1),
        fmt(ms.at(-1) ?? NaN, 0),
        fmtInt(hedgesDuring),
        fmtInt(emptiest),
        Number.isFinite(backMs) ? `${fmtInt(backMs)} ms` : "never",
      ],
      failed,
      maxMs: ms.at(-1) ?? NaN,
      p99Ms: percentile(ms, 99),
      emptiest,
      backMs,
      healthyReads,
      healthyHedges,
    };
  } finally {
    stop = true;
    await Promise.all(readers);
    await router.close();
    await proxy?.close();
  }
}

/**
 * Scenario "slow replica": 8 concurrent point-read loops while replica_1 is
 * frozen (SIGSTOP of every process of its server: nothing fails, nothing
 * answers) and thawed again. The same run three times, each with a fresh
 * router: the defaults (hedged reads and the stall watch), hedging off (the
 * stall watch alone), and neither (the per-attempt deadline raised to the
 * statement timeout: how the router behaved before either existed).
 */
import { performance } from "node:perf_hooks";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import type { RouteReason } from "../../backend/database/router/read_planner";
import { freeze } from "../faults";
import type { BenchContext, Section } from "./common";
import { fmt, fmtInt, percentile, POINT_SQL, rng, sleep } from "./common";
import { startRouter } from "./db";

const READERS = 8;

interface Variant {
  readonly label: string;
  readonly env: Record<string, string>;
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
];

/** Scenario entry point. */
export async function slowReplica(ctx: BenchContext): Promise<Section> {
  const faultMs = ctx.quick ? 4_000 : 15_000;
  const rows: string[][] = [];
  for (const v of VARIANTS) {
    ctx.log(`slow replica: ${v.label}`);
    rows.push(await runVariant(ctx, v, faultMs));
    await sleep(2_000); // let replica_1 settle between runs
  }
  return {
    id: "slow_replica",
    title: "Slow replica: one replica frozen under load",
    method: [
      `${READERS} concurrent loops of the point read by primary key through the router, against the primary and 2 replicas. ` +
        `After 2 s of warm-up and 1 s of load, every process of replica_1 is stopped with SIGSTOP for ${faultMs / 1000} s, then continued. ` +
        "The figures cover the reads that started while it was frozen; each row is a fresh router.",
      "Hedging (REPLICA_HEDGE_MAX_EXTRA_LOAD, default 0.05): a read slower than the cluster's recent p99 (10 ms at least) is sent to another eligible replica too and the first answer wins; the loser is cancelled. " +
        "Stall watch (REPLICA_ATTEMPT_DEADLINE_MIN/MAX, default 100 ms / 1 s): a replica with a read outstanding past 4 x its p99 that answered nothing since is taken out of rotation until a probe answers; if the probe times out too, its outstanding reads move elsewhere.",
    ],
    tables: [
      {
        headers: [
          "variant",
          "reads while frozen",
          "failed",
          "p50 ms",
          "p99 ms",
          "max ms",
          "hedges",
          "slowest half second (reads completed)",
        ],
        rows,
      },
    ],
    notes: [
      "Goal (issue 10): 0 failed reads, none slower than 1 s, p99 under 250 ms, reads completing throughout, with the defaults.",
      "The last row is the behaviour before hedging and the stall watch: readers that reached the frozen replica waited for it.",
    ],
  };
}

async function runVariant(
  ctx: BenchContext,
  v: Variant,
  faultMs: number,
): Promise<string[]> {
  let hedges = 0;
  const router = await startRouter(ctx.cluster, ctx.cluster.replicas, v.env, {
    observer: {
      onRoute(_n: DbNode, _e: string, reason: RouteReason) {
        if (reason === "hedge") hedges++;
      },
    },
  });
  const { orgOf, idOf } = ctx.seed;
  const samples: { start: number; end: number; ok: boolean }[] = [];
  let stop = false;
  const reader = async (i: number) => {
    const next = rng(1000 + i);
    while (!stop) {
      const k = Math.floor(next() * orgOf.length);
      const start = performance.now();
      let ok = true;
      try {
        await router
          .getReadConnection()
          .rawQueryAll(POINT_SQL, orgOf[k]!, idOf[k]!);
      } catch {
        ok = false;
      }
      samples.push({ start, end: performance.now(), ok });
    }
  };
  const readers = Array.from({ length: READERS }, (_, i) => reader(i));
  try {
    await sleep(3_000);
    const hedgesBefore = hedges;
    const thaw = freeze(ctx.cluster.replicas[0]!);
    const from = performance.now();
    let to = from;
    try {
      await sleep(faultMs);
    } finally {
      thaw();
      to = performance.now();
    }
    const hedgesDuring = hedges - hedgesBefore;
    // Let reads stuck on the frozen replica finish (they may be the slowest).
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
    return [
      v.label,
      fmtInt(during.length),
      fmtInt(during.filter((s) => !s.ok).length),
      fmt(percentile(ms, 50), 2),
      fmt(percentile(ms, 99), 1),
      fmt(ms.at(-1) ?? NaN, 0),
      fmtInt(hedgesDuring),
      fmtInt(perHalf.reduce((a, b) => Math.min(a, b), Infinity)),
    ];
  } finally {
    stop = true;
    await Promise.all(readers);
    await router.close();
  }
}

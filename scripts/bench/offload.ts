/**
 * Scenario 4, offload: a finance workload of 90 % reads and 10 % writes
 * through FinanceRepository, at fixed concurrency, with the router sending
 * reads to two replicas vs the same router with no replica configured
 * (READ_REPLICA_URLS empty: every read on the primary). Measures where reads
 * went and the CPU the primary's processes consumed, from /proc.
 */
import { performance } from "node:perf_hooks";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import { FinanceRepository } from "../../backend/finance/finance_repository";
import type { BenchContext, Section } from "./common";
import {
  fmt,
  fmtInt,
  median,
  pct,
  rng,
  rotate,
  runLoad,
  signed,
} from "./common";
import { readCounts, startRouter } from "./db";
import { postmasterPid, serverCpuSeconds } from "./proc_cpu";

const CONCURRENCY = 16;

interface Mode {
  name: string;
  router: ReplicaRouter;
  repo: FinanceRepository;
}

interface Round {
  requests: number;
  reqPerSec: number;
  reads: number;
  readsOnReplicas: number;
  primaryCpuPerK: number;
  replicaCpuPerK: number;
  clientCpuPerK: number;
  errors: number;
}

/** Scenario entry point. */
export async function offload(ctx: BenchContext): Promise<Section> {
  const rounds = ctx.quick ? 2 : 4;
  const segmentMs = ctx.quick ? 1_250 : 2_500;
  const env = { DB_MAX_CONNECTIONS: "20" };
  const withReplicas = await startRouter(
    ctx.cluster,
    ctx.cluster.replicas,
    env,
  );
  const primaryOnly = await startRouter(ctx.cluster, [], env);
  const modes: Mode[] = [
    {
      name: "router, 2 replicas",
      router: withReplicas,
      repo: new FinanceRepository(withReplicas),
    },
    {
      name: "router, no replicas",
      router: primaryOnly,
      repo: new FinanceRepository(primaryOnly),
    },
  ];
  const primaryPid = postmasterPid(ctx.cluster.primary.dataDir);
  const replicaPids = ctx.cluster.replicas.map((r) => postmasterPid(r.dataDir));
  const replicaCpu = () =>
    replicaPids.reduce((s, pid) => s + serverCpuSeconds(pid), 0);
  const { orgOf, idOf } = ctx.seed;
  const rand = rng(99);
  const day = 86_400_000;
  let writes = 0;

  /** One request of the mix: 10 % writes (7 create, 3 status update), 90 % reads (get 50, list 30, sum 20). */
  const request = async (repo: FinanceRepository): Promise<void> => {
    const k = Math.floor(rand() * orgOf.length);
    const orgId = orgOf[k]!;
    const x = rand();
    if (x < 0.07) {
      writes++;
      await repo.create("revenues", orgId, {
        amountCents: 1 + Math.floor(rand() * 100_000),
        currency: "USD",
        status: "pending",
        description: "offload bench",
        occurredAt: new Date(
          Date.UTC(2025, 0, 1) + Math.floor(rand() * 365) * day,
        ),
      });
    } else if (x < 0.1) {
      writes++;
      await repo.updateStatus(
        "revenues",
        orgId,
        String(idOf[k]),
        rand() < 0.5 ? "received" : "pending",
      );
    } else if (x < 0.55) {
      await repo.get("revenues", orgId, String(idOf[k]));
    } else if (x < 0.82) {
      await repo.list("revenues", orgId, { limit: 50 });
    } else {
      await repo.sum("revenues", orgId);
    }
  };

  const results = new Map<string, Round[]>(modes.map((m) => [m.name, []]));
  try {
    for (const m of modes)
      await runLoad({
        concurrency: CONCURRENCY,
        durationMs: 300,
        maxOps: 50_000,
        op: () => request(m.repo),
      });
    for (let r = 0; r < rounds; r++) {
      for (const m of rotate(modes, r)) {
        ctx.log(`offload: round ${r + 1}/${rounds}, ${m.name}`);
        const reads0 = readCounts(m.router);
        const p0 = serverCpuSeconds(primaryPid);
        const r0 = replicaCpu();
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const res = await runLoad({
          concurrency: CONCURRENCY,
          durationMs: segmentMs,
          maxOps: 1_000_000,
          op: () => request(m.repo),
        });
        const elapsed = performance.now() - t0;
        const c1 = process.cpuUsage(c0);
        const primaryCpu = serverCpuSeconds(primaryPid) - p0;
        const repCpu = replicaCpu() - r0;
        const reads1 = readCounts(m.router);
        const k = res.ops / 1000;
        results.get(m.name)!.push({
          requests: res.ops,
          reqPerSec: (res.ops * 1000) / elapsed,
          reads:
            reads1.primary - reads0.primary + reads1.replicas - reads0.replicas,
          readsOnReplicas: reads1.replicas - reads0.replicas,
          primaryCpuPerK: primaryCpu / k,
          replicaCpuPerK: repCpu / k,
          clientCpuPerK: (c1.user + c1.system) / 1e6 / k,
          errors: res.errors,
        });
      }
    }
  } finally {
    await Promise.allSettled(modes.map((m) => m.router.close()));
  }

  const rows = modes.map((m) => {
    const rs = results.get(m.name)!;
    const sum = (f: (x: Round) => number) => rs.reduce((s, x) => s + f(x), 0);
    return [
      m.name,
      fmtInt(sum((x) => x.requests)),
      fmtInt(median(rs.map((x) => x.reqPerSec))),
      pct(
        sum((x) => x.readsOnReplicas),
        sum((x) => x.reads),
      ),
      fmt(median(rs.map((x) => x.primaryCpuPerK)), 3),
      fmt(median(rs.map((x) => x.replicaCpuPerK)), 3),
      fmt(median(rs.map((x) => x.clientCpuPerK)), 3),
      fmtInt(sum((x) => x.errors)),
    ];
  });
  const a = results.get(modes[0]!.name)!;
  const b = results.get(modes[1]!.name)!;
  const cpuRatio = median(
    a.map((x, i) => x.primaryCpuPerK / b[i]!.primaryCpuPerK),
  );
  return {
    id: "offload",
    title: "Offload: primary CPU with and without replicas",
    method: [
      `${CONCURRENCY} concurrent clients run a finance mix through \`FinanceRepository\`: 90 % reads (get by id 45 %, ` +
        "list a page of 50 27 %, per-currency sum 18 %) and 10 % writes (create 7 %, status update 3 %) over orgs 1..100. " +
        `Same router configuration twice: with READ_REPLICA_URLS = both replicas, and with it empty. ${rounds} rounds × ` +
        `${segmentMs / 1000} s per mode, alternating (total ≈ ${fmt((rounds * segmentMs) / 1000, 0)} s per mode). Primary CPU is ` +
        "utime+stime from /proc of the primary's postmaster, its live children (backends, walsenders, background workers) " +
        "and its reaped children, read before and after each segment; likewise for the replicas. Values are medians over rounds.",
    ],
    tables: [
      {
        title: "Per mode",
        headers: [
          "mode",
          "requests",
          "requests/s",
          "reads served by replicas",
          "primary CPU s / 1,000 req",
          "replicas CPU s / 1,000 req",
          "client CPU s / 1,000 req",
          "errors",
        ],
        rows,
      },
    ],
    notes: [
      `With replicas the primary spends ${fmt(100 * cpuRatio, 0)} % of the CPU per request it spends without them ` +
        `(${signed(100 * (cpuRatio - 1), 0)} %, median of per-round ratios). ${fmtInt(writes)} writes in total across both modes.`,
      "Requests/s is not a capacity figure here: the client and all three servers share 2 cores, so moving reads to replicas " +
        "moves CPU between processes on the same machine rather than adding any.",
    ],
  };
}

/**
 * Scenario "overload": many concurrent keep-alive clients doing point reads
 * against the standalone service, run as its own process with default
 * settings (as `npm start` runs it). The service must keep answering its
 * health and status endpoints quickly, answer every request (served, or
 * shed with 503 + Retry-After) in bounded time, and keep its memory bounded.
 * Formerly asserted by test/integration/overload.test.ts (issue 20).
 */
import { spawn } from "node:child_process";
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { BenchContext, Section } from "./common";
import { fmtInt, rng, sleep } from "./common";
import type { ClientFigures } from "./overload_clients";
import type { ProberFigures } from "./overload_prober";
import { KEYS, type Level, report } from "./overload_report";
import {
  metricSum,
  rssMiB,
  serverSideTimes,
  spawnBenchService,
} from "./service";

const HEALTH = "/v1/system/database/replicas/health";
const STATUS = "/v1/system/database/replicas/status";

/** Scenario entry point. */
export async function overload(ctx: BenchContext): Promise<Section> {
  const levels = ctx.quick ? [1_000] : [100, 1_000, 5_000];
  const loadMs = ctx.quick ? 4_000 : 8_000;
  const results: Level[] = [];
  for (const clients of levels) {
    ctx.log(`overload: ${fmtInt(clients)} clients for ${loadMs / 1000} s`);
    results.push(await runLevel(ctx, clients, loadMs));
    await sleep(1_000);
  }
  return report(results, loadMs);
}

const BENCH_ADMIN_TOKEN = `bench-admin-${process.pid}-0123456789abcdef`;

/** A key for every org, issued through the service's admin API (as an operator would). */
async function issueKey(base: string): Promise<string> {
  const res = await fetch(`${base}/v1/system/database/api-keys`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${BENCH_ADMIN_TOKEN}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ userId: "bench", orgIds: "*" }),
  });
  if (res.status !== 201) throw new Error(`issuing a key: HTTP ${res.status}`);
  return ((await res.json()) as { key: string }).key;
}

/** Runs `script` (in scripts/bench) as its own node process; resolves the JSON line it prints. */
function runChild<T>(
  ctx: BenchContext,
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", `scripts/bench/${script}`, ...args],
      {
        cwd: ctx.repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...env },
      },
    );
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on(
      "data",
      (d: Buffer) => (err = (err + d.toString()).slice(-2_000)),
    );
    child.on("error", reject);
    child.on("exit", (code) => {
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(
          new Error(`${script} exited ${code}: ${err || out.slice(0, 300)}`),
        );
      }
    });
  });
}

/** One GET on a keep-alive agent; status and ms to the last byte. */
function timedGet(
  url: string,
  agent: http.Agent,
  headers: Record<string, string> = {},
): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        res.resume();
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }),
        );
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

async function runLevel(
  ctx: BenchContext,
  clients: number,
  loadMs: number,
): Promise<Level> {
  const { cluster, seed } = ctx;
  const service = await spawnBenchService(ctx.repoRoot, {
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
    // Defaults otherwise: API keys on. The admin token only issues the key.
    ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
  });
  const pid = service.child.pid!;
  const base = service.url;
  // The keep-alive prober holds one connection per endpoint, as a load
  // balancer's health check on a keep-alive connection would.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const next = rng(20 + clients);
    const keys = Array.from({ length: KEYS }, () => {
      const k = Math.floor(next() * seed.orgOf.length);
      return `${seed.orgOf[k]}:${seed.idOf[k]}`;
    });
    const [org, id] = keys[0]!.split(":");
    const apiKey = await issueKey(base);
    const auth = { authorization: `Bearer ${apiKey}` };
    // Both at once: the agent opens one connection for each before the load
    // (probing them is about answers on open connections, not about connecting).
    await Promise.all(
      [HEALTH, STATUS].map(async (path) => {
        const r = await timedGet(base + path, agent);
        if (r.status !== 200)
          throw new Error(`warm-up GET ${path}: HTTP ${r.status}`);
      }),
    );
    // Not fatal: statuses other than 200 and 503 show in the table (goal 0).
    const read = `/v1/finance/orgs/${org}/revenues/${id}`;
    const first = await timedGet(base + read, agent, auth);
    if (first.status !== 200)
      ctx.log(`overload: warm-up GET ${read} answered HTTP ${first.status}`);
    // A scrape restarts prom-client's event-loop histogram: the one at the
    // end then covers the load alone.
    await (await fetch(`${base}/metrics`)).text();
    const rssBefore = rssMiB(pid);
    let rssPeak = rssBefore;
    const started = performance.now();
    const loading = runChild<ClientFigures>(
      ctx,
      "overload_clients.ts",
      [base, String(clients), String(loadMs), keys.join(",")],
      { BENCH_API_KEY: apiKey },
    );
    await sleep(1_500); // let the load build up
    const outside = runChild<ProberFigures>(ctx, "overload_prober.ts", [
      base + HEALTH,
      String(loadMs - 2_000),
    ]);
    const health: number[] = [];
    const status: number[] = [];
    const probe = async (path: string, into: number[]) => {
      while (performance.now() - started < loadMs - 500) {
        const r = await timedGet(base + path, agent);
        if (r.status !== 200)
          throw new Error(`GET ${path} under load: HTTP ${r.status}`);
        into.push(r.ms);
        rssPeak = Math.max(rssPeak, rssMiB(pid));
        await sleep(5);
      }
    };
    await Promise.all([probe(HEALTH, health), probe(STATUS, status)]);
    const [load, out] = await Promise.all([loading, outside]);
    rssPeak = Math.max(rssPeak, rssMiB(pid));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    return {
      clients,
      loadMs,
      load,
      outside: out,
      health: health.sort((a, b) => a - b),
      status: status.sort((a, b) => a - b),
      server: serverSideTimes(metrics),
      loopP99Ms: 1000 * metricSum(metrics, "nodejs_eventloop_lag_p99_seconds"),
      loopMaxMs: 1000 * metricSum(metrics, "nodejs_eventloop_lag_max_seconds"),
      stalls: {
        suspected: metricSum(metrics, "replica_stalls_total", {
          verdict: "suspected",
        }),
        withheld: metricSum(metrics, "replica_stalls_total", {
          verdict: "withheld",
        }),
      },
      rssBefore,
      rssPeak,
    };
  } finally {
    agent.destroy();
    await service.stop();
  }
}

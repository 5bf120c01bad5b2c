/**
 * Overload: 1,000 concurrent keep-alive clients doing point reads against
 * the standalone service (its own process, as `npm start` runs it). The
 * service must keep answering its health and status endpoints, answer
 * every request (served, or shed with 503 + Retry-After) in bounded time,
 * and keep its memory bounded. The latency figures with their goals (health
 * p99, shed share, max latency) are `npm run bench`'s overload section.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import { repoRoot } from "./helpers/clusters";
import { orgIdBlock } from "./helpers/http";
import { spawnService, type SpawnedService } from "./helpers/service";
import { timedGet as timedGetOn } from "./helpers/timed_get";
import { report } from "../support/verbose";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const CLIENTS = 1_000;
const LOAD_MS = 8_000;
const QUEUE_TIMEOUT_MS = 250;

let service: SpawnedService | undefined;
let base: string;
let pid: number;
/** Keep-alive sockets, one per client (the standard library's agent). */
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + 10 });

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(
    readFileSync(`/proc/${pid}/status`, "utf8"),
  );
  return m ? Number(m[1]) / 1024 : NaN;
}

beforeAll(async () => {
  await runMigrations(primaryUrl, MIGRATIONS_DIR);
  service = await spawnService({
    ...process.env,
    DATABASE_URL: primaryUrl,
    READ_REPLICA_URLS: replicaUrls.join(","),
    PORT: "0",
    AUTH: "off",
    DB_POOL_QUEUE_TIMEOUT: `${QUEUE_TIMEOUT_MS}ms`,
  });
  base = service.url;
  pid = service.child.pid!;
}, 60_000);

afterAll(async () => {
  await service?.stop();
  agent.destroy();
});

const timedGet = (url: string) => timedGetOn(url, agent);

function p(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
}

/**
 * From the service's own `http_request_duration_seconds` histogram: how many
 * API requests it answered, how many took longer than 2.5 s (reported) and
 * than 10 s (its largest bucket).
 */
function serverSideTimes(metrics: string): {
  api: number;
  apiOver2500ms: number;
  apiOver10s: number;
} {
  let total = 0;
  let within = 0;
  let within10s = 0;
  for (const line of metrics.split("\n")) {
    const m =
      /^http_request_duration_seconds_bucket\{le="([^"]+)",kind="api",status="[^"]+"\} (\d+)/.exec(
        line,
      );
    if (m === null) continue;
    if (m[1] === "+Inf") total += Number(m[2]);
    if (m[1] === "2.5") within += Number(m[2]);
    if (m[1] === "10") within10s += Number(m[2]);
  }
  return {
    api: total,
    apiOver2500ms: total - within,
    apiOver10s: total - within10s,
  };
}

/** Runs the load generator process; resolves its figures. */
function runLoad(url: string): Promise<LoadFigures> {
  return new Promise((resolve, reject) => {
    const load = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "test/integration/helpers/load_clients.ts",
        url,
        String(CLIENTS),
        String(LOAD_MS),
      ],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    load.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    load.on("error", reject);
    load.on("exit", () => {
      try {
        resolve(JSON.parse(out) as LoadFigures);
      } catch {
        reject(new Error(`load generator printed: ${out.slice(0, 300)}`));
      }
    });
  });
}

interface LoadFigures {
  statuses: Record<string, number>;
  errors: number;
  firstErrors: string[];
  servedP50: number | null;
  servedP99: number | null;
  /** Slowest request on an open connection. */
  maxMs: number;
  /** Slowest first request of a client (it also opened the connection). */
  maxFirstMs: number;
  missingRetryAfter: number;
}

describe("1,000 concurrent clients", () => {
  it("health and status keep answering; every request is served or shed in bounded time; memory stays bounded", async () => {
    const [org] = orgIdBlock(1);
    const created = await fetch(`${base}/v1/finance/orgs/${org}/revenues`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        amountCents: 100,
        currency: "EUR",
        occurredAt: "2026-11-23T09:00:00Z",
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const rssBefore = rssMiB(pid);
    // The prober keeps one connection open, as a load balancer's health
    // check would on a keep-alive connection: what is timed is the answer.
    // Two at once, so the agent holds one socket per prober below.
    await Promise.all([
      timedGet(`${base}/v1/system/database/replicas/health`),
      timedGet(`${base}/v1/system/database/replicas/status`),
    ]);

    const started = performance.now();
    const loading = runLoad(`${base}/v1/finance/orgs/${org}/revenues/${id}`);
    const monitoring = { health: [] as number[], status: [] as number[] };
    let rssPeak = rssBefore;
    await new Promise((r) => setTimeout(r, 1_500)); // let the load build up
    // One keep-alive prober per endpoint, back to back, as a load balancer
    // checking often would: a few hundred samples each, so p99 is a p99 and
    // not the single slowest probe.
    const probe = async (path: string, into: number[]) => {
      while (performance.now() - started < LOAD_MS - 500) {
        const r = await timedGet(`${base}${path}`);
        expect(r.status).toBe(200);
        into.push(r.ms);
        rssPeak = Math.max(rssPeak, rssMiB(pid));
        await new Promise((res) => setTimeout(res, 5));
      }
    };
    await Promise.all([
      probe("/v1/system/database/replicas/health", monitoring.health),
      probe("/v1/system/database/replicas/status", monitoring.status),
    ]);
    const load = await loading;
    const metricsText = await (await fetch(`${base}/metrics`)).text();
    const server = serverSideTimes(metricsText);
    const figures = {
      ...load,
      healthP99: +p(monitoring.health, 0.99).toFixed(1),
      statusP99: +p(monitoring.status, 0.99).toFixed(1),
      probes: [monitoring.health.length, monitoring.status.length],
      rssBeforeMiB: +rssBefore.toFixed(0),
      rssPeakMiB: +rssPeak.toFixed(0),
      server,
    };
    report(
      `overload, ${CLIENTS} clients for ${LOAD_MS / 1000} s: ${JSON.stringify(figures)}`,
    );
    expect(load.firstErrors).toEqual([]);
    expect(Object.keys(load.statuses).sort()).toEqual(
      expect.arrayContaining(["200"]),
    );
    for (const status of Object.keys(load.statuses))
      expect(["200", "503"]).toContain(status);
    // About 20,000 on an idle machine; 929 once with two suites and two
    // CPU burners sharing the cores: reads were served, not all shed.
    expect(load.statuses["200"]).toBeGreaterThan(100);
    expect(load.missingRetryAfter).toBe(0);
    // Health and status kept answering through the load: every probe got a
    // 200 (checked in probe()), and back-to-back probes kept coming. How
    // fast (goal: p99 < 200 ms) is `npm run bench`'s overload section.
    expect(monitoring.health.length, "health probes answered").toBeGreaterThan(
      10,
    );
    expect(monitoring.status.length, "status probes answered").toBeGreaterThan(
      10,
    );
    // Every API request answered, served or shed, in bounded time, as the
    // service measured it (arrival to response sent; the load generator's
    // own timings include its CPU-starved event loop): the slowest today is
    // under 1 s (queue timeout 250 ms plus its query); none may reach 10 s.
    expect(server.api, "API requests the server saw").toBeGreaterThan(1_000);
    expect(
      server.apiOver10s,
      "API requests answered after more than 10 s",
    ).toBe(0);
    expect(rssPeak - rssBefore, "RSS growth (MiB)").toBeLessThan(256);
  }, 120_000);
});

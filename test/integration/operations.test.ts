/**
 * What on-call touches: concurrency caps, adding and removing replicas under
 * load, Prometheus metrics, and graceful shutdown — against real servers.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import pg from "pg";
import YAML from "yaml";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { startTestApp, type TestApp } from "./helpers/app";
import {
  eventually,
  repoRoot,
  sql,
  withFreshCluster,
} from "./helpers/clusters";
import { spawnService, type SpawnedService } from "./helpers/service";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("concurrency caps", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(primaryUrl, replicaUrls, {
      MAX_CONCURRENT_QUERIES_PER_ORG: "2",
      // Org B's five requests share its two slots: each may wait this long
      // for one (ten times what five fast reads take on a busy machine);
      // org A's wait this long and are refused.
      CONCURRENCY_CAP_WAIT: "2s",
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  it("org A saturating its cap gets 429s while org B is served", async () => {
    const router = t.app.router;
    // Org A's two slots are held by queries that wait for a lock the test
    // holds: they end when the test says so, however slow the machine.
    const lockKey = 4_240_111;
    const holder = new pg.Client({ connectionString: primaryUrl });
    await holder.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [lockKey]);
      const hogs = [0, 1].map(() =>
        router
          .getReadConnection({ orgId: 111, consistency: { level: "strong" } })
          .rawQueryAll(
            "SELECT pg_advisory_lock($1), pg_advisory_unlock($1)",
            lockKey,
          ),
      );
      // Both hogs wait on the lock, so both of A's slots are taken.
      await eventually(async () => {
        const waiting = await sql(
          primaryUrl,
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
          [lockKey],
        );
        expect(waiting[0]?.n).toBe(2);
      }, 10_000);
      const [a, b] = await Promise.all([
        Promise.all(
          Array.from({ length: 5 }, () =>
            t.call("GET", "/v1/finance/orgs/111/revenues?limit=1"),
          ),
        ),
        Promise.all(
          Array.from({ length: 5 }, () =>
            t.call("GET", "/v1/finance/orgs/222/revenues?limit=1"),
          ),
        ),
      ]);
      expect(a.map((r) => r.status)).toEqual([429, 429, 429, 429, 429]);
      expect(a[0]!.body.code).toBe("resource_exhausted");
      expect(b.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      await holder.query("SELECT pg_advisory_unlock($1)", [lockKey]);
      await Promise.all(hogs);
    } finally {
      await holder.end();
    }
    // Once A's queries finish, A is served again.
    expect(
      (await t.call("GET", "/v1/finance/orgs/111/revenues?limit=1")).status,
    ).toBe(200);
  });
});

describe("adding and removing a replica under load", () => {
  let cluster: LocalCluster;
  let t: TestApp;
  const admin = { Authorization: "Bearer test-admin-token-0123456789" };

  beforeAll(async () => {
    cluster = await withFreshCluster(1);
    t = await startTestApp(cluster.primary.url, [cluster.replicas[0]!.url], {
      ADMIN_TOKEN: "test-admin-token-0123456789",
      DB_APPLICATION_NAME: "ops-test",
    });
  });

  afterAll(async () => {
    await t?.close();
    await cluster?.destroy();
  });

  it("a new replica serves after its first health check; removing it mid-load fails no read and leaves no connection", async () => {
    const extra = await cluster.addReplica("replica_2");
    let running = true;
    const seen = new Map<string, number>();
    const failures: string[] = [];
    const loops = Array.from({ length: 8 }, async () => {
      for (let i = 0; running && i < 50_000; i++) {
        const r = await t.call("GET", "/v1/finance/orgs/1/revenues?limit=5");
        if (r.status !== 200)
          failures.push(`${r.status} ${JSON.stringify(r.body)}`);
        else seen.set(r.servedBy!, (seen.get(r.servedBy!) ?? 0) + 1);
      }
    });
    try {
      await sleep(300);
      const added = await t.call(
        "POST",
        "/v1/system/database/replicas",
        { connectionString: extra.url, name: "replica_2" },
        admin,
      );
      expect(added.status).toBe(201);
      // It serves after its first health check (FAST_ENV: every 500 ms);
      // 10 s is ten times what that takes on a busy machine.
      await eventually(async () => {
        if ((seen.get("replica_2") ?? 0) === 0)
          throw new Error("replica_2 not serving yet");
      }, 10_000);
      await sleep(500);
      const removed = await t.call(
        "DELETE",
        "/v1/system/database/replicas/replica_2",
        undefined,
        admin,
      );
      expect(removed.status).toBe(200);
      await sleep(500);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    const left = await sql(
      extra.url,
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'ops-test:%'",
    );
    expect(left[0].n).toBe(0);
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.replicas.map((r: { name: string }) => r.name)).toEqual([
      "replica_1",
    ]);
  }, 60_000);

  it("refuses to add a server that is not a replica of this primary, saying why", async () => {
    const r = await t.call(
      "POST",
      "/v1/system/database/replicas",
      { connectionString: primaryUrl },
      admin,
    );
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(
      /connectionString: .*(pg_is_in_recovery|system_identifier)/,
    );
  });

  it("answers one coarse error for every address it cannot or may not use: no network or file probing through the API", async () => {
    const replicaUrl = new URL(cluster.replicas[0]!.url);
    const at = (hostPort: string, query = "") =>
      `postgres://postgres:pw@${hostPort}/${replicaUrl.pathname.slice(1)}${query}`;
    const httpPort = new URL(t.baseUrl).port;
    const messages = new Set<string>();
    for (const connectionString of [
      at("127.0.0.1:1"), // closed port
      at(`127.0.0.1:${httpPort}`), // open port, not PostgreSQL
      at(replicaUrl.host, "?sslrootcert=/etc/hostname"), // a file of this machine
      at(replicaUrl.host, "?sslmode=verify-full&sslrootcert=/nonexistent"),
      at(replicaUrl.host, "?host=/tmp"), // a Unix socket
      at("%2Fvar%2Frun%2Fpostgresql"), // a Unix socket as the host
    ]) {
      const r = await t.call(
        "POST",
        "/v1/system/database/replicas",
        { connectionString },
        admin,
      );
      expect(r.status, connectionString).toBe(400);
      expect(JSON.stringify(r.body)).not.toContain("pw@");
      messages.add(r.body.message);
    }
    expect([...messages]).toEqual([
      "connectionString: no replica could be used at that address (unreachable, not PostgreSQL, refused, or not allowed); the reason is in the service's log",
    ]);
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.replicas).toHaveLength(1);
  });
});

describe("metrics", () => {
  it("exposes every metric the docs' alerts and dashboard use, with sensible values after traffic", async () => {
    const t = await startTestApp(primaryUrl, replicaUrls);
    try {
      for (let i = 0; i < 20; i++)
        await t.call("GET", "/v1/finance/orgs/1/revenues?limit=1");
      await t.call("GET", "/v1/finance/orgs/1/revenues?limit=1", undefined, {
        "X-Consistency": "strong",
      });
      const text: string = (await t.call("GET", "/metrics")).body;
      const names = new Set(
        [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!),
      );
      for (const name of [
        "replica_lag_seconds",
        "replica_lag_bytes",
        "replica_health",
        "circuit_breaker_state",
        "read_routing_total",
        "db_query_duration_seconds",
        "db_pool_connections",
        "process_cpu_seconds_total",
      ]) {
        expect(names, name).toContain(name);
      }
      expect(text).toMatch(/replica_health\{replica="replica_1"\} 1/);
      expect(text).toMatch(/circuit_breaker_state\{replica="replica_2"\} 0/);
      expect(text).toMatch(
        /read_routing_total\{target="replica_\d",endpoint="finance.listRevenues",reason="replica"\} \d+/,
      );
      expect(text).toMatch(
        /read_routing_total\{target="primary",endpoint="finance.listRevenues",reason="strong"\} 1/,
      );
      expect(text).toMatch(
        /db_query_duration_seconds_count\{node="replica_1",kind="read"\} [1-9]/,
      );

      // Every metric the alert rules and the dashboard query must exist.
      const series = (expr: string) =>
        [...expr.matchAll(/\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\)|$|\s|>|<|=|!)/g)]
          .map((m) => m[1]!.replace(/_(bucket|count|sum)$/, ""))
          .filter((n) =>
            /_(seconds|bytes|health|state|total|connections|serving)$/.test(n),
          );
      const rules = YAML.parse(
        readFileSync(path.join(repoRoot, "docs/prometheus-alerts.yml"), "utf8"),
      );
      const exprs: string[] = rules.groups.flatMap(
        (g: { rules: { expr: string }[] }) =>
          g.rules.map((r) => String(r.expr)),
      );
      const dashboard = readFileSync(
        path.join(repoRoot, "docs/grafana-dashboard.json"),
        "utf8",
      );
      const dashExprs = [
        ...dashboard.matchAll(/"expr":\s*"((?:[^"\\]|\\.)*)"/g),
      ].map((m) => JSON.parse(`"${m[1]}"`) as string);
      expect(exprs.length).toBeGreaterThan(0);
      expect(dashExprs.length).toBeGreaterThan(0);
      const used = new Set([...exprs, ...dashExprs].flatMap(series));
      expect(used.size).toBeGreaterThan(3);
      for (const name of used)
        expect(names, `${name} (used in docs)`).toContain(name);
    } finally {
      await t.close();
    }
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM during load: in-flight requests complete, exit code 0, no connection left on the servers", async () => {
    const appName = `shutdown-${randomBytes(4).toString("hex")}`;
    let service: SpawnedService | undefined;
    try {
      service = await spawnService({
        ...process.env,
        DATABASE_URL: primaryUrl,
        READ_REPLICA_URLS: replicaUrls.join(","),
        PORT: "0",
        AUTH: "off",
        DB_APPLICATION_NAME: appName,
      });
      const url = service.url;

      let running = true;
      const outcomes = { ok: 0, refused: 0, broken: [] as string[] };
      const signalledAtRef = { t: Infinity };
      // Node's own client, for `reusedSocket`: a reset of a fresh connection
      // comes from the kernel's accept queue when the listener closes (the
      // request never reached the service, like a refused one); a reset of a
      // reused keep-alive socket would be the service dropping a request.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
      const get = (path: string) =>
        new Promise<{ status: number }>((resolve, reject) => {
          const req = http.get(`${url}${path}`, { agent }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0 }));
            res.on("error", reject);
          });
          req.on("error", (err: NodeJS.ErrnoException) =>
            reject(Object.assign(err, { reused: req.reusedSocket })),
          );
        });
      const loops = Array.from({ length: 8 }, async () => {
        for (let i = 0; running && i < 10_000; i++) {
          try {
            // A slow read keeps requests in flight when the signal lands.
            const r = await get("/v1/finance/orgs/1/revenues?limit=500");
            if (r.status === 200) outcomes.ok++;
            else outcomes.broken.push(`status ${r.status}`);
          } catch (err) {
            const { code, reused } = err as NodeJS.ErrnoException & {
              reused: boolean;
            };
            // After close() the port refuses new connections (or resets
            // those still queued for accept): those were never accepted.
            if (code === "ECONNREFUSED" || (code === "ECONNRESET" && !reused)) {
              outcomes.refused++;
              running = false;
            } else
              outcomes.broken.push(
                `${String(code ?? err)}${reused ? " (reused socket)" : ""} at ${Date.now() - signalledAtRef.t}ms`,
              );
          }
        }
      });
      await sleep(700);
      const signalledAt = Date.now();
      signalledAtRef.t = signalledAt;
      service.child.kill("SIGTERM");
      const { code } = await service.exit;
      running = false;
      await Promise.all(loops);
      agent.destroy();
      expect(code).toBe(0);
      // The drain gives up after 6 s; the pools close after it.
      expect(Date.now() - signalledAt).toBeLessThan(30_000);
      expect(outcomes.broken).toEqual([]);
      expect(outcomes.ok).toBeGreaterThan(10);
      for (const url of [primaryUrl, ...replicaUrls]) {
        const rows = await sql(
          url,
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1",
          [`${appName}:%`],
        );
        expect(rows[0].n).toBe(0);
      }
    } finally {
      await service?.stop("SIGKILL");
    }
  }, 60_000);
});

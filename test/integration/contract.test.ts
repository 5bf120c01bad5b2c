/**
 * The HTTP contract of DESIGN.md against the real standalone service:
 * - the standalone route table and the Encore `api()` declarations list the
 *   same method, path and success status (and agree on which are admin);
 * - the monitoring routes answer with DESIGN's shapes;
 * - no monitoring body (nor /metrics, nor an admin answer) leaks a password
 *   or a full connection string;
 * - the admin API is closed without ADMIN_TOKEN, and with it needs the exact
 *   bearer token; its switches have the documented effect on routing.
 */
import { hostname } from "node:os";
import { freePort } from "../../backend/standalone/local_cluster/local_cluster";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { checkEncoreApp, type EncoreEndpoint } from "../encore/conformance";
import { startTestApp, type HttpResult, type TestApp } from "./helpers/app";
import { eventually, repoRoot } from "./helpers/clusters";
import {
  expectError,
  newItem,
  orgIdBlock,
  REPLICA_NAMES,
} from "./helpers/http";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

const PASSWORD = "S3cretPassw0rd";
const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
const MAX_CONNECTIONS = 7;

/** `url` with the password set (the local cluster trusts loopback, so it is ignored but present). */
function withPassword(url: string): string {
  const u = new URL(url);
  u.password = PASSWORD;
  const out = u.toString();
  expect(out).toContain(`:${PASSWORD}@`);
  return out;
}

/** A loopback port nobody listens on (bound and released). */
const deadPort = freePort;

const MONITORING_GETS = [
  "/v1/system/database/replicas/status",
  "/v1/system/database/replicas/health",
  "/v1/system/database/replicas/lag",
  "/v1/system/database/connection-pool/stats",
  "/v1/system/database/replicas/fleet",
  "/v1/system/database/replicas/history",
  "/v1/system/database/replicas/events",
  "/v1/system/database/replicas/dashboard",
  "/metrics",
] as const;

/** Every admin route, with a body a permitted call would accept. */
const ADMIN_ROUTES: readonly [method: string, path: string, body?: unknown][] =
  [
    ["POST", "/v1/system/database/health-check"],
    [
      "POST",
      "/v1/system/database/replicas",
      { connectionString: "postgres://postgres@127.0.0.1:1/app" },
    ],
    ["DELETE", "/v1/system/database/replicas/replica_1"],
    ["GET", "/v1/system/database/replicas/admin/audit"],
    ["POST", "/v1/system/database/replicas/replica_1/circuit/open"],
    ["POST", "/v1/system/database/replicas/replica_1/circuit/close"],
    ["PUT", "/v1/system/database/read-replicas", { enabled: false }],
    [
      "PUT",
      "/v1/system/database/read-replicas/endpoints/finance.listRevenues",
      { enabled: false },
    ],
    ["PUT", "/v1/system/database/cache", { enabled: false }],
    [
      "POST",
      "/v1/system/database/api-keys",
      { userId: "contract", orgIds: [1] },
    ],
    ["GET", "/v1/system/database/api-keys"],
    ["DELETE", "/v1/system/database/api-keys/0123456789abcdef"],
    [
      "PUT",
      "/v1/system/database/cache/endpoints/finance.sumRevenues",
      { enabled: false },
    ],
  ];

/** Fails when `text` holds the password or any connection string. */
function expectNoSecrets(where: string, res: HttpResult): void {
  const text =
    typeof res.body === "string" ? res.body : JSON.stringify(res.body);
  expect(text.length, `${where}: empty body`).toBeGreaterThan(0);
  expect(text.includes(PASSWORD), `${where} shows the password`).toBe(false);
  expect(
    /postgres(ql)?:\/\//.test(text),
    `${where} shows a connection string`,
  ).toBe(false);
}

// ---------------------------------------------------------------------------------------------

describe("route table contract: standalone = Encore", () => {
  let t: TestApp;
  let declared: EncoreEndpoint[];

  beforeAll(async () => {
    t = await startTestApp(primaryUrl, replicaUrls);
    // What Encore's parser sees, read with the TypeScript compiler (test/encore/conformance.ts).
    declared = checkEncoreApp({ root: repoRoot }).endpoints;
  });

  afterAll(async () => {
    await t?.close();
  });

  it("the Encore files declare exactly the standalone routes: method, path and success status", () => {
    const standalone = t.app.routes
      .map((r) => `${r.method} ${r.path} ${r.successStatus ?? 200}`)
      .sort();
    const encore = declared
      .map((d) => `${d.method} ${d.path} ${d.successStatus}`)
      .sort();
    expect(new Set(standalone).size).toBe(standalone.length); // no duplicates
    expect(new Set(encore).size).toBe(encore.length);
    expect(encore).toEqual(standalone);
    // Sanity: the table is not trivially empty on both sides.
    expect(standalone).toContain(
      "GET /v1/finance/orgs/:orgId/revenues/:id 200",
    );
    expect(standalone).toContain("POST /v1/finance/orgs/:orgId/revenues 201");
    expect(standalone).toContain("POST /v1/invoices/orgs/:orgId/invoices 201");
    expect(standalone).toContain(
      "GET /v1/invoices/orgs/:orgId/invoices/:id 200",
    );
    expect(standalone).toContain("POST /v1/system/database/replicas 201");
    expect(standalone).toContain("GET /metrics 200");
    expect(standalone).toContain(
      "PUT /v1/system/database/read-replicas/endpoints/:endpoint 200",
    );
    // The database service's own: monitoring (with the fleet view and the dashboard), admin, /metrics.
    const own = t.app.routes.filter((r) => r.endpoint.startsWith("database."));
    expect(own).toHaveLength(9 + 13 + 1);
    // Then every mounted domain's endpoints, each named after its domain.
    expect(standalone.length).toBeGreaterThanOrEqual(own.length + 12 + 3);
  });

  it("admin routes are exactly the Encore endpoints that take the bearer token, and those are sensitive", () => {
    const standalone = t.app.routes
      .filter((r) => r.admin === true)
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    const header = (d: (typeof declared)[number], wire: string) =>
      d.fields.some((f) => f.location === "header" && f.wire === wire);
    // Monitoring endpoints take the (monitoring) token too, with the dashboard's cookie.
    const takesToken = declared.filter(
      (d) =>
        header(d, "Authorization") &&
        !d.fields.some((f) => f.location === "cookie"),
    );
    const monitoring = t.app.routes
      .filter((r) => r.monitoring === true)
      .map((r) => `${r.method} ${r.path}`);
    // Every monitoring route may carry a token or the session cookie: Encore
    // traces record the headers of endpoints that are not sensitive.
    const byRoute = new Map(declared.map((d) => [`${d.method} ${d.path}`, d]));
    for (const m of monitoring)
      expect(byRoute.get(m)?.sensitive, `${m} sensitive under Encore`).toBe(
        true,
      );
    expect(takesToken.map((d) => `${d.method} ${d.path}`).sort()).toEqual(
      standalone,
    );
    expect(takesToken.every((d) => d.sensitive && !d.auth)).toBe(true);
    expect(standalone).toHaveLength(ADMIN_ROUTES.length);
  });

  it("domain and admin endpoints have the same names under both runtimes (switches, logs and metrics use them)", () => {
    const byRoute = new Map(declared.map((d) => [`${d.method} ${d.path}`, d]));
    const checked = t.app.routes.filter(
      (x) => !x.endpoint.startsWith("database.") || x.admin === true,
    );
    for (const r of checked) {
      const d = byRoute.get(`${r.method} ${r.path}`)!;
      // The Encore service is the folder under backend/ (its encore.service.ts).
      const service = d.file.split("/")[1];
      expect(`${service}.${d.name}`, `${r.method} ${r.path}`).toBe(r.endpoint);
    }
    expect(checked.map((r) => r.endpoint)).toEqual(
      expect.arrayContaining([
        "finance.createRevenue",
        "invoices.createInvoice",
        "invoices.listInvoices",
        "invoices.getInvoice",
      ]),
    );
  });
});

// ---------------------------------------------------------------------------------------------

const NODE_KEYS = [
  "name",
  "role",
  "address",
  "zone",
  "state",
  "healthy",
  "circuit",
  "lagSeconds",
  "lagBytes",
  "replayLsn",
  "lastCheckAt",
  "lastError",
  "pool",
  "reads",
] as const;
const STATES = [
  "healthy",
  "lagging",
  "unhealthy",
  "circuit_open",
  "not_a_replica",
  "disabled",
];

function expectPool(pool: unknown, where: string): void {
  expect(pool, where).toEqual({
    total: expect.any(Number),
    idle: expect.any(Number),
    waiting: expect.any(Number),
    max: MAX_CONNECTIONS,
  });
}

function expectNode(
  node: Record<string, unknown>,
  role: "primary" | "replica",
): void {
  const where = `node ${JSON.stringify(node)}`;
  for (const key of NODE_KEYS) expect(node, where).toHaveProperty(key);
  expect(typeof node.name).toBe("string");
  expect(node.role).toBe(role);
  expect(node.address, where).toMatch(/^127\.0\.0\.1:\d+\/\w+$/);
  expect(STATES).toContain(node.state);
  expect(typeof node.healthy).toBe("boolean");
  expect(["closed", "open", "half_open"]).toContain(node.circuit);
  for (const k of ["lagSeconds", "lagBytes"] as const)
    expect(
      node[k] === null || typeof node[k] === "number",
      `${k} ${where}`,
    ).toBe(true);
  expect(
    node.replayLsn === null ||
      /^[0-9A-F]+\/[0-9A-F]+$/.test(String(node.replayLsn)),
    where,
  ).toBe(true);
  expect(
    node.lastCheckAt === null ||
      !Number.isNaN(Date.parse(String(node.lastCheckAt))),
    where,
  ).toBe(true);
  expect(
    node.lastError === null || typeof node.lastError === "string",
    where,
  ).toBe(true);
  expectPool(node.pool, where);
  expect(typeof node.reads).toBe("number");
}

describe("monitoring routes (URLs carry a password; DB_MAX_CONNECTIONS=7)", () => {
  let t: TestApp;
  const orgId = orgIdBlock(1)[0]!;

  beforeAll(async () => {
    t = await startTestApp(
      withPassword(primaryUrl),
      replicaUrls.map(withPassword),
      {
        DB_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        // Read counters are checked against the reads sent: no cache hits.
        CACHE_ENABLED: "false",
        // Node addresses are shown to admin-token holders only.
        ADMIN_TOKEN,
      },
    );
    // Some traffic, so pools, read counters and metrics have something to show.
    await t.call("POST", `/v1/finance/orgs/${orgId}/revenues`, newItem());
    for (let i = 0; i < 6; i++)
      await t.call("GET", `/v1/finance/orgs/${orgId}/revenues`);
  });

  afterAll(async () => {
    await t?.close();
  });

  it("node addresses are shown only to admin-token holders (no MONITORING_TOKEN set)", async () => {
    const open = await t.call("GET", "/v1/system/database/replicas/status");
    expect(open.status).toBe(200);
    const nodes = [open.body.primary, ...open.body.replicas];
    expect(nodes.map((n: { address: unknown }) => n.address)).toEqual(
      nodes.map(() => null),
    );
    const admin = await t.call(
      "GET",
      "/v1/system/database/replicas/status",
      undefined,
      { Authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(admin.body.primary.address).toMatch(/^127\.0\.0\.1:\d+\/\w+$/);
  });

  it("open monitoring names no host of this service: instance ids are pseudonyms; token holders see them", async () => {
    const host = hostname();
    for (const path of [
      "/v1/system/database/replicas/fleet",
      "/v1/system/database/replicas/status",
    ]) {
      const open = await t.call("GET", path);
      expect(open.status, path).toBe(200);
      expect(JSON.stringify(open.body), path).not.toContain(host);
    }
    const fleet = await t.call("GET", "/v1/system/database/replicas/fleet");
    expect(fleet.body.self).toMatch(/^instance-[0-9a-f]{10}$/);
    expect(
      fleet.body.instances.map((i: { instanceId: string }) => i.instanceId),
    ).toContain(fleet.body.self);
    const admin = await t.call(
      "GET",
      "/v1/system/database/replicas/fleet",
      undefined,
      { Authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    expect(admin.body.self).toContain(host);
  });

  it("GET /v1/system/database/replicas/status: enabled, strategy, primary, 2 replicas, summary", async () => {
    const res = await eventually(async () => {
      const r = await t.call(
        "GET",
        "/v1/system/database/replicas/status",
        undefined,
        { Authorization: `Bearer ${ADMIN_TOKEN}` },
      );
      expect(r.status).toBe(200);
      expect(r.body.summary).toEqual({ total: 2, healthy: 2, serving: 2 });
      expect(
        r.body.replicas.every(
          (n: { lastCheckAt: unknown; replayLsn: unknown }) =>
            n.lastCheckAt !== null && n.replayLsn !== null,
        ),
      ).toBe(true);
      return r;
    });
    const body = res.body;
    expect(body.enabled).toBe(true);
    expect(body.strategy).toBe("round-robin");
    // No zones configured: no preference, and every node's zone unknown.
    expect(body.serviceZone).toBeNull();
    expect(body.primary.zone).toBeNull();
    expectNode(body.primary, "primary");
    expect(body.primary.name).toBe("primary");
    expect(body.primary.healthy).toBe(true);
    expect(body.replicas).toHaveLength(2);
    body.replicas.forEach((n: Record<string, unknown>) =>
      expectNode(n, "replica"),
    );
    expect(body.replicas.map((n: { name: string }) => n.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    for (const n of body.replicas) {
      expect(n.state).toBe("healthy");
      expect(n.circuit).toBe("closed");
      expect(n.lastError).toBeNull();
    }
    expect(
      body.replicas.reduce((s: number, n: { reads: number }) => s + n.reads, 0),
    ).toBeGreaterThanOrEqual(6);
  });

  it("GET /v1/system/database/replicas/health", async () => {
    const res = await t.call("GET", "/v1/system/database/replicas/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      healthy: true,
      primaryHealthy: true,
      replicaCount: 2,
      healthyReplicaCount: 2,
    });
  });

  it("GET /v1/system/database/replicas/lag", async () => {
    const res = await eventually(async () => {
      const r = await t.call("GET", "/v1/system/database/replicas/lag");
      expect(r.status).toBe(200);
      expect(
        r.body.replicas.every(
          (x: { status: string }) => x.status !== "unknown",
        ),
      ).toBe(true);
      return r;
    });
    expect(res.body.replicas).toHaveLength(2);
    for (const r of res.body.replicas) {
      expect(r).toMatchObject({
        name: expect.stringMatching(/^replica_[12]$/),
        status: expect.stringMatching(/^(ok|warning|critical)$/),
      });
      expect(typeof r.lagSeconds).toBe("number");
      expect(typeof r.lagBytes).toBe("number");
    }
    expect(res.body.thresholds).toMatchObject({
      warningSeconds: 5,
      criticalSeconds: 10,
    });
  });

  it("GET /v1/system/database/connection-pool/stats: numbers, max = DB_MAX_CONNECTIONS", async () => {
    const res = await t.call(
      "GET",
      "/v1/system/database/connection-pool/stats",
    );
    expect(res.status).toBe(200);
    expectPool(res.body.primary, "primary");
    expect(res.body.replicas).toHaveLength(2);
    for (const r of res.body.replicas) {
      expect(r).toEqual({
        name: expect.stringMatching(/^replica_[12]$/),
        total: expect.any(Number),
        idle: expect.any(Number),
        waiting: expect.any(Number),
        max: MAX_CONNECTIONS,
      });
    }
  });

  it("GET /metrics is Prometheus text", async () => {
    const res = await t.call("GET", "/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(typeof res.body).toBe("string");
    expect(res.body).toMatch(/^# HELP /m);
    expect(res.body).toMatch(/^replica_lag_seconds\{replica="replica_1"\} /m);
    expect(res.body).toMatch(/^read_routing_total\{/m);
  });

  it("no monitoring body, nor /metrics, contains the password or a connection string", async () => {
    for (const p of MONITORING_GETS) {
      const res = await t.call("GET", p);
      expect(res.status, p).toBe(200);
      expectNoSecrets(p, res);
    }
  });

  it("not even when a node is unreachable and its lastError is shown", async () => {
    const dead = `postgres://postgres:${PASSWORD}@127.0.0.1:${await deadPort()}/app`;
    const t2 = await startTestApp(withPassword(primaryUrl), [
      ...replicaUrls.map(withPassword),
      dead,
    ]);
    try {
      const status = await eventually(async () => {
        const r = await t2.call("GET", "/v1/system/database/replicas/status");
        expect(r.body.replicas[2].lastError).toEqual(expect.any(String));
        return r;
      });
      expect(status.body.replicas[2].healthy).toBe(false);
      // Without a token, the error is its kind: no host, port or driver text
      // (it was "connect ECONNREFUSED 127.0.0.1:<port>", then "<host>" in its place).
      expect(status.body.replicas[2].lastError).toBe("connection refused");
      for (const p of MONITORING_GETS) {
        const res = await t2.call("GET", p);
        if (p.endsWith("/metrics") || p.endsWith("/dashboard")) continue;
        expect(JSON.stringify(res.body), p).not.toContain("127.0.0.1");
      }
      for (const p of MONITORING_GETS) {
        const res = await t2.call("GET", p);
        expect([200, 503], p).toContain(res.status);
        expectNoSecrets(p, res);
      }
    } finally {
      await t2.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("admin API without ADMIN_TOKEN", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(primaryUrl, replicaUrls);
  });

  afterAll(async () => {
    await t?.close();
  });

  it("answers 403 permission_denied on every admin route, with or without a bearer token", async () => {
    for (const [method, p, body] of ADMIN_ROUTES) {
      expectError(await t.call(method, p, body), 403, "permission_denied");
      expectError(
        await t.call(method, p, body, {
          Authorization: `Bearer ${ADMIN_TOKEN}`,
        }),
        403,
        "permission_denied",
      );
    }
    // Nothing happened: replica_1 is still there, reads still on.
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.enabled).toBe(true);
    expect(status.body.replicas.map((n: { name: string }) => n.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    expect(status.body.switches).toEqual({
      enabled: true,
      enabledEndpoints: null,
      disabledEndpoints: [],
    });
  });
});

describe("admin API with ADMIN_TOKEN", () => {
  let t: TestApp;
  const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const orgId = orgIdBlock(1)[0]!;
  let revenueId = "";

  beforeAll(async () => {
    t = await startTestApp(
      withPassword(primaryUrl),
      replicaUrls.map(withPassword),
      // The switches are checked by which node serves each read: no cache hits.
      { ADMIN_TOKEN, CACHE_ENABLED: "false" },
    );
    const created = await t.call(
      "POST",
      `/v1/finance/orgs/${orgId}/revenues`,
      newItem(),
    );
    expect(created.status).toBe(201);
    revenueId = created.body.id;
    // Replicated and served by a replica before any switch is touched.
    await eventually(async () => {
      const r = await t.call(
        "GET",
        `/v1/finance/orgs/${orgId}/revenues/${revenueId}`,
      );
      expect(r.status).toBe(200);
      expect(REPLICA_NAMES).toContain(r.servedBy);
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  const getOne = () =>
    t.call("GET", `/v1/finance/orgs/${orgId}/revenues/${revenueId}`);
  const list = () =>
    t.call("GET", `/v1/finance/orgs/${orgId}/revenues?limit=5`);

  it("no Authorization → 401 unauthenticated; wrong token → 403 permission_denied", async () => {
    for (const [method, p, body] of ADMIN_ROUTES) {
      expectError(await t.call(method, p, body), 401, "unauthenticated");
      expectError(
        await t.call(method, p, body, {
          Authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64")}`,
        }),
        401,
        "unauthenticated",
      );
      expectError(
        await t.call(method, p, body, {
          Authorization: "Bearer wrong-token-wrong-token",
        }),
        403,
        "permission_denied",
      );
      expectError(
        await t.call(method, p, body, {
          Authorization: `Bearer ${ADMIN_TOKEN}x`,
        }),
        403,
        "permission_denied",
      );
      expectError(
        await t.call(method, p, body, {
          Authorization: `Bearer ${ADMIN_TOKEN.slice(0, -1)}`,
        }),
        403,
        "permission_denied",
      );
    }
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.replicas.map((n: { name: string }) => n.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    expect(status.body.switches).toEqual({
      enabled: true,
      enabledEndpoints: null,
      disabledEndpoints: [],
    });
  });

  it("right token: POST health-check → 200 with the status body (no secrets)", async () => {
    const res = await t.call(
      "POST",
      "/v1/system/database/health-check",
      undefined,
      auth,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.primary.name).toBe("primary");
    expect(res.body.replicas).toHaveLength(2);
    expectNoSecrets("health-check", res);
  });

  it("right token: open then close replica_1's circuit; reads avoid it while open", async () => {
    const opened = await t.call(
      "POST",
      "/v1/system/database/replicas/replica_1/circuit/open",
      undefined,
      auth,
    );
    expect(opened.status, JSON.stringify(opened.body)).toBe(200);
    expect(opened.body).toEqual({ name: "replica_1", circuit: "open" });
    try {
      const status = await t.call("GET", "/v1/system/database/replicas/status");
      expect(status.body.replicas[0]).toMatchObject({
        name: "replica_1",
        circuit: "open",
        state: "circuit_open",
      });
      for (let i = 0; i < 6; i++)
        expect((await list()).servedBy).toBe("replica_2");
    } finally {
      const closed = await t.call(
        "POST",
        "/v1/system/database/replicas/replica_1/circuit/close",
        undefined,
        auth,
      );
      expect(closed.status, JSON.stringify(closed.body)).toBe(200);
      expect(closed.body).toEqual({ name: "replica_1", circuit: "closed" });
    }
    const served = new Set<string | null>();
    for (let i = 0; i < 6; i++) served.add((await list()).servedBy);
    expect(served).toEqual(new Set(REPLICA_NAMES));
    expectError(
      await t.call(
        "POST",
        "/v1/system/database/replicas/replica_9/circuit/open",
        undefined,
        auth,
      ),
      404,
      "not_found",
    );
  });

  it("right token: replica reads off → every read on the primary; on again → replicas", async () => {
    const off = await t.call(
      "PUT",
      "/v1/system/database/read-replicas",
      { enabled: false },
      auth,
    );
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body).toEqual({
      enabled: false,
      enabledEndpoints: null,
      disabledEndpoints: [],
    });
    try {
      expect(
        (await t.call("GET", "/v1/system/database/replicas/status")).body
          .enabled,
      ).toBe(false);
      for (let i = 0; i < 4; i++) {
        const [a, b] = [await getOne(), await list()];
        expect([a.status, b.status]).toEqual([200, 200]);
        expect([a.servedBy, b.servedBy]).toEqual(["primary", "primary"]);
      }
    } finally {
      const on = await t.call(
        "PUT",
        "/v1/system/database/read-replicas",
        { enabled: true },
        auth,
      );
      expect(on.status, JSON.stringify(on.body)).toBe(200);
      expect(on.body.enabled).toBe(true);
    }
    expect(REPLICA_NAMES).toContain((await getOne()).servedBy);
    expect(REPLICA_NAMES).toContain((await list()).servedBy);
    expectError(
      await t.call(
        "PUT",
        "/v1/system/database/read-replicas",
        { enabled: "yes" },
        auth,
      ),
      400,
      "invalid_argument",
      "enabled",
    );
  });

  it("right token: finance.getRevenue off → GET /:id on the primary, list still on a replica; on again", async () => {
    const off = await t.call(
      "PUT",
      "/v1/system/database/read-replicas/endpoints/finance.getRevenue",
      { enabled: false },
      auth,
    );
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    expect(off.body).toEqual({
      enabled: true,
      enabledEndpoints: null,
      disabledEndpoints: ["finance.getRevenue"],
    });
    try {
      for (let i = 0; i < 4; i++) {
        const one = await getOne();
        expect(one.status).toBe(200);
        expect(one.servedBy).toBe("primary");
        const many = await list();
        expect(many.status).toBe(200);
        expect(REPLICA_NAMES).toContain(many.servedBy);
      }
    } finally {
      const on = await t.call(
        "PUT",
        "/v1/system/database/read-replicas/endpoints/finance.getRevenue",
        { enabled: true },
        auth,
      );
      expect(on.status, JSON.stringify(on.body)).toBe(200);
      expect(on.body).toEqual({
        enabled: true,
        enabledEndpoints: null,
        disabledEndpoints: [],
      });
    }
    expect(REPLICA_NAMES).toContain((await getOne()).servedBy);
    expectError(
      await t.call(
        "PUT",
        "/v1/system/database/read-replicas/endpoints/not-an-endpoint",
        { enabled: false },
        auth,
      ),
      400,
      "invalid_argument",
      "endpoint",
    );
  });

  it("right token: add a replica (201), see it without its password, remove it (200)", async () => {
    const added = await t.call(
      "POST",
      "/v1/system/database/replicas",
      {
        connectionString: withPassword(replicaUrls[0]!),
        name: "replica_extra",
      },
      auth,
    );
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    expect(added.body).toMatchObject({
      name: "replica_extra",
      address: expect.stringMatching(/^127\.0\.0\.1:\d+\/\w+$/),
    });
    expectNoSecrets("add replica", added);
    try {
      const status = await t.call("GET", "/v1/system/database/replicas/status");
      expect(status.body.replicas.map((n: { name: string }) => n.name)).toEqual(
        ["replica_1", "replica_2", "replica_extra"],
      );
      expectNoSecrets("status with an added replica", status);
    } finally {
      const removed = await t.call(
        "DELETE",
        "/v1/system/database/replicas/replica_extra",
        undefined,
        auth,
      );
      expect(removed.status, JSON.stringify(removed.body)).toBe(200);
      expect(removed.body).toEqual({ removed: "replica_extra" });
    }
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.replicas.map((n: { name: string }) => n.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    // Bad and unreachable connection strings: 400, and the password is not echoed.
    const bad = await t.call(
      "POST",
      "/v1/system/database/replicas",
      { connectionString: `http://u:${PASSWORD}@h/db` },
      auth,
    );
    expectError(bad, 400, "invalid_argument", "connectionString");
    expect(JSON.stringify(bad.body)).not.toContain(PASSWORD);
    const unreachable = await t.call(
      "POST",
      "/v1/system/database/replicas",
      {
        connectionString: `postgres://postgres:${PASSWORD}@127.0.0.1:${await deadPort()}/app`,
      },
      auth,
    );
    expectError(unreachable, 400, "invalid_argument", "connectionString");
    expectNoSecrets("unreachable replica", unreachable);
    expectError(
      await t.call(
        "DELETE",
        "/v1/system/database/replicas/replica_9",
        undefined,
        auth,
      ),
      404,
      "not_found",
    );
  });
});

/**
 * The Encore front door, run for real without the Encore runtime: the
 * encore.dev modules are replaced by stand-ins that behave as the runtime
 * does where this app depends on it (ENCORE.md section 6; see
 * helpers/encore_runtime.ts), the declared `SQLDatabase`s point at the
 * suite's real primary and replicas, and the endpoint functions of every
 * domain's api.ts and of backend/database/encore/{monitoring,admin}_api.ts
 * are called as Encore's gateway would call them, after its auth step
 * (mirrored from runtimes/core/src/api/auth/mod.rs and api/gateway/mod.rs).
 *
 * Two app instances are loaded (as two Encore instances would be): A with
 * the AdminToken, CursorSecret and ReplicaUrls secrets set, B with only
 * CursorSecret (admin API off).
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import { eventually } from "./helpers/clusters";
import { record } from "../support/secret_scan";
import { orgIdBlock } from "./helpers/http";
import {
  callEndpoint,
  encoreRuntime,
  loadEncoreInstance,
  type Endpoint,
} from "./helpers/encore_runtime";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const ADMIN_TOKEN = "encore-admin-token-0123456789";
const CURSOR_SECRET = "encore-cursor-secret-0123456789";

const standIns = await vi.hoisted(() => import("./helpers/encore_runtime"));
vi.mock("encore.dev", () => standIns.root());
vi.mock("encore.dev/api", () => standIns.api());
vi.mock("encore.dev/auth", () => standIns.auth());
vi.mock("encore.dev/internal/codegen/auth", () => standIns.authData());
vi.mock("encore.dev/config", () => standIns.config());
vi.mock("encore.dev/storage/sqldb", () => standIns.sqldb());
vi.mock("encore.dev/metrics", () => standIns.metrics());
vi.mock("../../node_modules/encore.dev/internal/runtime/mod.ts", () =>
  standIns.runtime(),
);
vi.mock("encore.dev/storage/cache", () => standIns.cache());

/** What the stand-ins read (set before each instance is loaded) and record. */
const encore = encoreRuntime();

interface Instance {
  finance: Record<string, Endpoint>;
  invoices: Record<string, Endpoint>;
  monitoring: Record<string, Endpoint>;
  close(): Promise<void>;
}

/** Calls a raw endpoint with a stand-in request and response; what it sent. */
async function rawCall(
  endpoint: Endpoint,
  req: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const request = Object.assign(
    (async function* () {
      if (req.body !== undefined) yield Buffer.from(req.body);
    })(),
    { headers: req.headers ?? {} },
  );
  const sent = { status: 0, headers: {} as Record<string, string>, body: "" };
  const response = {
    writeHead(status: number, headers: Record<string, string> = {}) {
      sent.status = status;
      Object.assign(sent.headers, headers);
      return response;
    },
    end(body?: string) {
      sent.body = body ?? "";
    },
  };
  await (endpoint as unknown as (q: unknown, r: unknown) => Promise<void>)(
    request,
    response,
  );
  // Scanned for secrets, as every answer of the helpers (test/support/secret_scan.ts).
  record(`${endpoint.options.method} ${endpoint.options.path}`, sent.body);
  return sent;
}

/** Polls `check` every 50 ms until it holds (at most 5 s). */
async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("condition not met within 5 s");
}

/** Loads a fresh copy of the Encore files, as one Encore instance. */
async function loadInstance(
  secrets: Record<string, string>,
  env: Record<string, string> = {},
): Promise<Instance> {
  const loaded = await loadEncoreInstance(secrets, env);
  return {
    finance: loaded.domains.finance!,
    invoices: loaded.domains.invoices!,
    monitoring: loaded.database,
    close: loaded.close,
  };
}

/** An API key for every org, issued in beforeAll: domain calls carry it unless told otherwise. */
let testKey = "";
const call: typeof callEndpoint = (endpoint, req, authorization) =>
  callEndpoint(
    endpoint,
    req,
    authorization ??
      (endpoint.options.auth === true ? `Bearer ${testKey}` : undefined),
  );

/** Issues a key through instance A's admin endpoint. */
async function issueKey(
  userId: string,
  orgIds: number[] | "*",
): Promise<string> {
  const issued = await call(a.monitoring.issueApiKey!, {
    authorization: `Bearer ${ADMIN_TOKEN}`,
    userId,
    orgIds,
  });
  if (!issued.ok) throw new Error(JSON.stringify(issued));
  return (issued.body as { key: string }).key;
}

let a: Instance;
let b: Instance;
const [org, org2, org3, org4] = orgIdBlock(4).map(String) as [
  string,
  string,
  string,
  string,
];
const item = {
  amountCents: 1250,
  currency: "EUR",
  occurredAt: "2026-11-23T09:00:00Z",
};

// Both instances form one fleet of their own on the shared test cluster.
const FLEET = {
  FLEET_NAME: `encore-path-${process.pid}-${Date.now()}`,
  FLEET_POLL_INTERVAL: "200ms",
  FLEET_HEARTBEAT_INTERVAL: "200ms",
  FLEET_INSTANCE_TIMEOUT: "2s",
};

beforeAll(async () => {
  // Encore applies the primary's migrations before the app starts.
  await runMigrations(primaryUrl, MIGRATIONS_DIR);
  encore.databases = new Map([
    ["primary", primaryUrl],
    ["replica_1", replicaUrls[0]!],
    // Like `encore run`: an independent, empty database, not a replica.
    ["replica_2", primaryUrl],
    ["replica_3", primaryUrl],
  ]);
  a = await loadInstance(
    {
      AdminToken: ADMIN_TOKEN,
      CursorSecret: CURSOR_SECRET,
      ReplicaUrls: JSON.stringify([replicaUrls[1]]),
    },
    {
      MAX_CONCURRENT_QUERIES_PER_USER: "1",
      CONCURRENCY_CAP_WAIT: "1ms",
      // Too short to be a key, but unread: the CursorSecret secret wins.
      CURSOR_SECRET: "too-short",
      ...FLEET,
    },
  );
  // ReplicaUrls unset: reading it throws "secret ReplicaUrls is not set",
  // which must mean "no extra replicas", not a crash.
  b = await loadInstance(
    {
      AdminToken: "disabled",
      CursorSecret: CURSOR_SECRET,
    },
    FLEET,
  );
  testKey = await issueKey("encore-path", "*");
});

afterAll(async () => {
  await a?.close();
  await b?.close();
});

describe("Encore front door, with the runtime's rules", () => {
  it("public routes are served whatever Authorization they carry; domain routes need a key", async () => {
    // The gateway runs the auth handler for every request carrying
    // Authorization, public routes included: it may only ever answer
    // `unauthenticated`, which fails auth: true routes alone.
    expect(encore.authHandlers.length).toBeGreaterThan(0);
    for (const authorization of [
      undefined,
      "Bearer a-users-own-token",
      `Bearer ${ADMIN_TOKEN}x`,
      "Bearer rrk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      `Bearer ${testKey}`,
    ]) {
      const status = await callEndpoint(
        a.monitoring.status!,
        {},
        authorization,
      );
      expect(status.ok, JSON.stringify(status)).toBe(true);
      const list = await callEndpoint(
        a.finance.listRevenues!,
        { orgId: org },
        authorization,
      );
      if (authorization === `Bearer ${testKey}`)
        expect(list.ok, JSON.stringify(list)).toBe(true);
      else expect(list).toMatchObject({ ok: false, code: "unauthenticated" });
      // Instance B (admin API off) knows the same keys: they live on the primary.
      const offList = await callEndpoint(
        b.finance.listRevenues!,
        { orgId: org },
        authorization,
      );
      expect(offList.ok).toBe(list.ok);
    }
  });

  it("admin routes: 401 without a token, 403 with a wrong one, 403 when disabled; served with the right one", async () => {
    const open = a.monitoring.openCircuit!;
    const close = a.monitoring.closeCircuit!;
    const none = await call(open, { name: "replica_1" });
    expect(none).toMatchObject({ ok: false, code: "unauthenticated" });
    const wrong = await call(open, {
      name: "replica_1",
      authorization: "Bearer not-the-token",
    });
    expect(wrong).toMatchObject({ ok: false, code: "permission_denied" });
    const disabled = await call(b.monitoring.openCircuit!, {
      name: "replica_1",
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(disabled).toMatchObject({ ok: false, code: "permission_denied" });
    expect((disabled as { message: string }).message).toContain("disabled");
    const right = await call(open, {
      name: "replica_1",
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(right).toEqual({
      ok: true,
      body: { name: "replica_1", circuit: "open" },
    });
    const closed = await call(close, {
      name: "replica_1",
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(closed).toMatchObject({ ok: true, body: { circuit: "closed" } });
  });

  it("an admin change through one instance is in force on the other; the fleet view lists both", async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const off = await call(a.monitoring.setEndpointReplicaReads!, {
      endpoint: "finance.sumRevenues",
      enabled: false,
      actor: "encore-test",
      ...auth,
    });
    expect(off.ok, JSON.stringify(off)).toBe(true);
    // b's admin API is disabled, yet it follows the fleet's stored state.
    await until(async () => {
      const s = (await call(b.monitoring.status!, {})) as {
        body: { switches: { disabledEndpoints: string[] } };
      };
      return s.body.switches.disabledEndpoints.includes("finance.sumRevenues");
    });
    const view = (await call(a.monitoring.fleet!, {})) as {
      ok: boolean;
      body: {
        instances: { serviceVersion: string; status: string }[];
        self: string;
      };
    };
    expect(view.ok).toBe(true);
    await until(async () => {
      const v = (await call(a.monitoring.fleet!, {})) as typeof view;
      return v.body.instances.filter((i) => i.status === "live").length === 2;
    });
    expect(view.body.instances[0]!.serviceVersion).toBe("encore-path-test");
    const audit = (await call(a.monitoring.adminAudit!, {
      limit: "5",
      ...auth,
    })) as {
      ok: boolean;
      body: { entries: { action: string; actor: string | null }[] };
    };
    expect(audit.body.entries[0]).toMatchObject({
      action: "switched replica reads for an endpoint",
      actor: "encore-test",
    });
    const back = await call(a.monitoring.setEndpointReplicaReads!, {
      endpoint: "finance.sumRevenues",
      enabled: true,
      ...auth,
    });
    expect(back.ok).toBe(true);
  });

  it("with the MonitoringToken secret, monitoring endpoints need it or the dashboard's session; health does not", async () => {
    const MON = "encore-monitor-token-0123456789";
    const c = await loadInstance(
      {
        AdminToken: ADMIN_TOKEN,
        CursorSecret: CURSOR_SECRET,
        MonitoringToken: MON,
      },
      FLEET,
    );
    try {
      for (const name of [
        "status",
        "lag",
        "pools",
        "fleet",
        "history",
        "events",
      ]) {
        expect(await call(c.monitoring[name]!, {}), name).toMatchObject({
          ok: false,
          code: "unauthenticated",
        });
        const ok = await call(c.monitoring[name]!, {
          authorization: `Bearer ${MON}`,
        });
        expect(ok.ok, name).toBe(true);
      }
      // Token holders see addresses; the raw endpoints gate themselves.
      const status = (await call(c.monitoring.status!, {
        authorization: `Bearer ${ADMIN_TOKEN}`,
      })) as { body: { primary: { address: string | null } } };
      expect(status.body.primary.address).toMatch(/^127\.0\.0\.1:\d+\//);
      expect((await rawCall(c.monitoring.prometheus!)).status).toBe(401);
      expect((await rawCall(c.monitoring.health!)).status).toBe(200);
      const page = await rawCall(c.monitoring.dashboard!);
      expect(page.status).toBe(401);
      expect(page.body).toContain("<html");
      expect(page.headers["Content-Security-Policy"]).toContain(
        "default-src 'none'",
      );
      // The login form's token becomes a session cookie that opens the typed endpoints.
      const wrong = await rawCall(c.monitoring.dashboardLogin!, {
        body: JSON.stringify({ token: "wrong-token-0123456789" }),
      });
      expect(wrong.status).toBe(401);
      const login = await rawCall(c.monitoring.dashboardLogin!, {
        body: JSON.stringify({ token: MON }),
      });
      expect(login.status).toBe(200);
      const cookie = login.headers["Set-Cookie"]!;
      expect(cookie).toContain("HttpOnly");
      const session = cookie.split(";")[0]!.split("=")[1]!;
      const viaSession = await call(c.monitoring.history!, {
        session: { value: session },
      });
      expect(viaSession.ok).toBe(true);
      // Any valid session among several: a planted one does not hide it.
      const planted = await call(c.monitoring.history!, {
        session: { value: "bogus" },
        cookies: `rr_monitor=bogus; rr_monitor=${session}`,
      });
      expect(planted.ok).toBe(true);
      // Same-origin only; the admin token is not a dashboard password.
      const cross = await rawCall(c.monitoring.dashboardLogin!, {
        headers: { origin: "https://evil.example", host: "svc:4000" },
        body: JSON.stringify({ token: MON }),
      });
      expect(cross.status).toBe(403);
      const admin = await rawCall(c.monitoring.dashboardLogin!, {
        body: JSON.stringify({ token: ADMIN_TOKEN }),
      });
      expect(admin.status).toBe(401);
      // A browser behind Encore's gateway: Host rewritten to the service's
      // own address, X-Forwarded-Host the site, the page served over HTTPS.
      const browser = await rawCall(c.monitoring.dashboardLogin!, {
        headers: {
          host: "127.0.0.1",
          "x-forwarded-host": "dash.example.com",
          "x-forwarded-proto": "http",
          origin: "https://dash.example.com",
          "sec-fetch-site": "same-origin",
        },
        body: JSON.stringify({ token: MON }),
      });
      expect(browser.status).toBe(200);
      expect(browser.headers["Set-Cookie"]).toMatch(
        /^__Host-rr_monitor=[^;]+; Path=\/;.*Secure/,
      );
      expect(
        (
          await rawCall(c.monitoring.dashboard!, {
            headers: { cookie: `rr_monitor=${session}` },
          })
        ).status,
      ).toBe(200);
    } finally {
      await c.close();
    }
  });

  it("a body in another media type than JSON is refused before the handler (Encore decodes any body as JSON)", async () => {
    const before = await call(a.finance.listRevenues!, { orgId: org4 });
    for (const contentType of [
      "text/plain;charset=UTF-8",
      "application/x-www-form-urlencoded",
    ]) {
      const refused = await call(a.finance.createRevenue!, {
        orgId: org4,
        ...item,
        contentType,
      });
      expect(refused).toMatchObject({
        ok: false,
        code: "invalid_argument",
        message: "Content-Type: must be application/json",
      });
    }
    const after = await call(a.finance.listRevenues!, { orgId: org4 });
    const items = (r: typeof before) =>
      r.ok ? (r.body as { items: unknown[] }).items : r;
    expect(items(after)).toEqual(items(before));
    const json = await call(a.finance.createRevenue!, {
      orgId: org4,
      ...item,
      contentType: "application/json; charset=utf-8",
    });
    expect(json.ok, JSON.stringify(json)).toBe(true);
  });

  it("a create answers 201 with a consistency token; a read with it sees the write", async () => {
    const created = await call(a.finance.createRevenue!, {
      orgId: org,
      ...item,
    });
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const body = (created as { body: Record<string, unknown> }).body;
    // Encore sends an HttpStatus field as the status and leaves it out of the
    // body (runtimes/core/src/api/schema/encoding.rs, schema/httpstatus.rs);
    // here, without the runtime, the handler's value is what can be checked.
    expect(body.httpStatus).toBe(201);
    expect(body.servedBy).toBe("primary");
    expect(body.consistencyToken).toMatch(/^main:[0-9A-F]+\/[0-9A-F]+$/);
    const read = await call(a.finance.getRevenue!, {
      orgId: org,
      id: body.id,
      consistencyToken: body.consistencyToken,
    });
    expect(read).toMatchObject({ ok: true, body: { id: body.id } });
    // An update is a 200, as standalone.
    const updated = await call(a.finance.updateRevenueStatus!, {
      orgId: org,
      id: body.id,
      status: "received",
    });
    expect(updated.ok).toBe(true);
    expect((updated as { body: object }).body).not.toHaveProperty("httpStatus");
  });

  it("a missing or mistyped body field is named by the handler, as standalone", async () => {
    const missing = await call(a.finance.createRevenue!, {
      orgId: org,
      currency: "EUR",
      occurredAt: item.occurredAt,
    });
    expect(missing).toMatchObject({ ok: false, code: "invalid_argument" });
    expect((missing as { message: string }).message).toContain("amountCents");
    const mistyped = await call(a.monitoring.setReplicaReads!, {
      enabled: "yes",
      authorization: `Bearer ${ADMIN_TOKEN}`,
    });
    expect(mistyped).toMatchObject({ ok: false, code: "invalid_argument" });
    expect((mistyped as { message: string }).message).toContain("enabled");
    const noOrgs = await call(a.finance.revenueTotalsByOrg!, {});
    expect(noOrgs).toMatchObject({ ok: false, code: "invalid_argument" });
    expect((noOrgs as { message: string }).message).toContain("orgIds");
  });

  it("the per-user cap counts the key's user, whatever headers say", async () => {
    const burst = (keyOf: (i: number) => string) =>
      Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          call(
            a.finance.listRevenues!,
            // A header naming someone else is not read.
            { orgId: org, userId: `user-${i}` },
            `Bearer ${keyOf(i)}`,
          ),
        ),
      );
    const alice = await issueKey("alice", [Number(org)]);
    const same = await burst(() => alice);
    const capped = same.filter(
      (r) => !r.ok && r.code === "resource_exhausted",
    ).length;
    expect(
      capped,
      "one user, cap 1: some reads must wait past 1 ms",
    ).toBeGreaterThan(0);
    const keys = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        issueKey(`user-${i}`, [Number(org)]),
      ),
    );
    const distinct = await burst((i) => keys[i]!);
    expect(
      distinct.every((r) => r.ok),
      JSON.stringify(distinct),
    ).toBe(true);
  });

  it("replicas: the declared ones, an empty stand-in marked not_a_replica, and one from the ReplicaUrls secret", async () => {
    // States are live: after the burst above, on a machine shared with other
    // test files, a replica may be a stall suspect for one probe cycle.
    await eventually(async () => {
      const status = await call(a.monitoring.status!, {});
      const replicas = (
        status as { body: { replicas: { name: string; state: string }[] } }
      ).body.replicas;
      expect(replicas.map((r) => [r.name, r.state])).toEqual([
        ["replica_1", "healthy"],
        ["replica_2", "not_a_replica"],
        ["replica_3", "not_a_replica"],
        ["replica_4", "healthy"],
      ]);
    }, 5_000);
    const statusB = await call(b.monitoring.status!, {});
    expect(
      (statusB as { body: { replicas: unknown[] } }).body.replicas,
    ).toHaveLength(3);
  });

  it("a cursor from one instance works on another with the same CursorSecret", async () => {
    for (let i = 0; i < 2; i++)
      await call(a.finance.createExpense!, { orgId: org2, ...item });
    const page1 = await call(a.finance.listExpenses!, {
      orgId: org2,
      limit: "1",
      consistency: "strong",
    });
    const cursor = (page1 as { body: { nextCursor: string } }).body.nextCursor;
    expect(cursor).toEqual(expect.any(String));
    const page2 = await call(b.finance.listExpenses!, {
      orgId: org2,
      limit: "1",
      cursor,
      consistency: "strong",
    });
    expect(page2).toMatchObject({ ok: true });
    expect((page2 as { body: { items: unknown[] } }).body.items).toHaveLength(
      1,
    );
  });
  it("invoices: 201 with a token, read-your-writes, org scoping, fields named, cursors across instances", async () => {
    const invoice = {
      customer: "ACME GmbH",
      amountCents: 990,
      currency: "EUR",
      issuedAt: "2026-11-23",
    };
    const created = await call(a.invoices.createInvoice!, {
      orgId: org3,
      ...invoice,
    });
    expect(created.ok, JSON.stringify(created)).toBe(true);
    const body = (created as { body: Record<string, unknown> }).body;
    expect(body).toMatchObject({
      httpStatus: 201,
      servedBy: "primary",
      number: 1,
      status: "open",
      issuedAt: "2026-11-23T00:00:00.000000Z",
    });
    expect(body.consistencyToken).toMatch(/^main:[0-9A-F]+\/[0-9A-F]+$/);
    const read = await call(a.invoices.getInvoice!, {
      orgId: org3,
      id: body.id,
      consistencyToken: body.consistencyToken,
    });
    expect(read).toMatchObject({ ok: true, body: { id: body.id, number: 1 } });
    const foreign = await call(a.invoices.getInvoice!, {
      orgId: org4,
      id: body.id,
      consistency: "strong",
    });
    expect(foreign).toMatchObject({ ok: false, code: "not_found" });
    const missing = await call(a.invoices.createInvoice!, {
      orgId: org3,
      ...invoice,
      customer: undefined,
    });
    expect(missing).toMatchObject({ ok: false, code: "invalid_argument" });
    expect((missing as { message: string }).message).toContain("customer");

    await call(a.invoices.createInvoice!, { orgId: org3, ...invoice });
    const page1 = await call(a.invoices.listInvoices!, {
      orgId: org3,
      limit: "1",
      consistency: "strong",
    });
    const cursor = (page1 as { body: { nextCursor: string } }).body.nextCursor;
    expect(cursor).toEqual(expect.any(String));
    const page2 = await call(b.invoices.listInvoices!, {
      orgId: org3,
      limit: "1",
      cursor,
      consistency: "strong",
    });
    expect(page2).toMatchObject({ ok: true, body: { nextCursor: null } });
    expect(
      (page2 as { body: { items: { number: number }[] } }).body.items,
    ).toEqual([expect.objectContaining({ number: 1 })]);
  });
});

/**
 * Callers and tenants (issue 24, item 1), over both front doors against the
 * suite's real primary and replicas: the standalone server over HTTP, and
 * the Encore endpoints through Encore's stand-ins (helpers/encore_runtime.ts),
 * whose gateway runs the app's auth handler as Encore's does.
 *
 * Every case runs on both doors: no key → 401; a key for one org → 403 on
 * another org, the same answer whether that org (or the row asked for)
 * exists or not; per-user caps count the key's user; a revoked key → 401 on
 * the next request; the key is stored only as a digest; and no key or
 * token appears in any response or log line of this suite.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import pg from "pg";
import { loadConfig, type Logger } from "../../backend/database/router/index";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import { startTestApp, type TestApp } from "./helpers/app";
import {
  callEndpoint,
  encoreRuntime,
  loadEncoreInstance,
  type EncoreInstance,
} from "./helpers/encore_runtime";
import { orgIdBlock } from "./helpers/http";

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

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const ADMIN_TOKEN = "tenants-admin-token-0123456789";
const CURSOR_SECRET = "tenants-cursor-secret-0123456789";
const [mine, other, never] = orgIdBlock(3) as [number, number, number];
const ENV = {
  AUTH: "keys",
  ADMIN_TOKEN,
  CURSOR_SECRET,
  MAX_CONCURRENT_QUERIES_PER_USER: "1",
  CONCURRENCY_CAP_WAIT: "1ms",
};

/** Every log line of both doors, to scan for secrets. */
const logged: string[] = [];
const recorder: Logger = {
  info: (m, f) => logged.push(JSON.stringify([m, f])),
  warn: (m, f) => logged.push(JSON.stringify([m, f])),
  error: (m, f) => logged.push(JSON.stringify([m, f])),
};
/** Every response body of the suite, to scan for secrets. */
const answered: string[] = [];
/** Every secret the suite handled: none may come back. */
const secrets = new Set<string>([ADMIN_TOKEN, CURSOR_SECRET]);

/** An outcome, the same shape from both doors. */
interface Outcome {
  code: string;
  message: string;
  body: any;
}

/** What a case does, whatever the door. */
interface Door {
  name: string;
  list(key: string | null, orgId: number, header?: string): Promise<Outcome>;
  create(key: string | null, orgId: number): Promise<Outcome>;
  get(key: string | null, orgId: number, id: string): Promise<Outcome>;
  totals(key: string | null, orgIds: string): Promise<Outcome>;
  read(
    key: string,
    orgId: number,
    consistency: string,
  ): Promise<Outcome & { servedBy: string }>;
  issue(
    userId: string,
    orgIds: number[] | "*",
  ): Promise<{ id: string; key: string }>;
  revoke(id: string): Promise<Outcome>;
}

const item = {
  amountCents: 1250,
  currency: "EUR",
  occurredAt: "2026-11-23T09:00:00Z",
};

let app: TestApp;
let encore: EncoreInstance;

function standaloneDoor(): Door {
  const send = async (
    method: string,
    path: string,
    key: string | null,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Outcome & { servedBy: string }> => {
    const res = await app.call(method, path, body, {
      ...(key !== null ? { authorization: `Bearer ${key}` } : {}),
      ...headers,
    });
    answered.push(JSON.stringify(res.body));
    const ok = res.status >= 200 && res.status < 300;
    return {
      code: ok ? "ok" : String(res.body?.code),
      message: ok ? "" : String(res.body?.message),
      body: res.body,
      servedBy: res.servedBy ?? "",
    };
  };
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  return {
    name: "standalone",
    list: (key, orgId, userId) =>
      send(
        "GET",
        `/v1/finance/orgs/${orgId}/revenues`,
        key,
        undefined,
        userId !== undefined ? { "x-user-id": userId } : {},
      ),
    create: (key, orgId) =>
      send("POST", `/v1/finance/orgs/${orgId}/revenues`, key, item),
    get: (key, orgId, id) =>
      send("GET", `/v1/finance/orgs/${orgId}/revenues/${id}`, key),
    totals: (key, orgIds) =>
      send("GET", `/v1/finance/revenues/totals?orgIds=${orgIds}`, key),
    read: (key, orgId, consistency) =>
      send("GET", `/v1/finance/orgs/${orgId}/revenues`, key, undefined, {
        "x-consistency": consistency,
      }),
    issue: async (userId, orgIds) => {
      const res = await app.call(
        "POST",
        "/v1/system/database/api-keys",
        { userId, orgIds },
        admin,
      );
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    },
    revoke: async (id) =>
      send("DELETE", `/v1/system/database/api-keys/${id}`, ADMIN_TOKEN),
  };
}

function encoreDoor(): Door {
  const { finance } = encore.domains as Record<string, any>;
  const db = encore.database as Record<string, any>;
  const send = async (
    endpoint: any,
    req: Record<string, unknown>,
    key: string | null,
  ): Promise<Outcome & { servedBy: string }> => {
    const r = await callEndpoint(
      endpoint,
      req,
      key === null ? undefined : `Bearer ${key}`,
    );
    answered.push(JSON.stringify(r));
    return r.ok
      ? { code: "ok", message: "", body: r.body, servedBy: r.body.servedBy }
      : { code: r.code, message: r.message, body: r, servedBy: "" };
  };
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  return {
    name: "Encore",
    // Encore passes only declared headers: an X-User-Id cannot even arrive.
    list: (key, orgId, userId) =>
      send(finance.listRevenues, { orgId: String(orgId), userId }, key),
    create: (key, orgId) =>
      send(finance.createRevenue, { orgId: String(orgId), ...item }, key),
    get: (key, orgId, id) =>
      send(finance.getRevenue, { orgId: String(orgId), id }, key),
    totals: (key, orgIds) => send(finance.revenueTotalsByOrg, { orgIds }, key),
    read: (key, orgId, consistency) =>
      send(finance.listRevenues, { orgId: String(orgId), consistency }, key),
    issue: async (userId, orgIds) => {
      const r = await callEndpoint(db.issueApiKey, {
        ...admin,
        userId,
        orgIds,
      });
      expect(r.ok, JSON.stringify(r)).toBe(true);
      return (r as { body: { id: string; key: string } }).body;
    },
    revoke: (id) => send(db.revokeApiKey, { ...admin, id }, null),
  };
}

beforeAll(async () => {
  await runMigrations(primaryUrl, MIGRATIONS_DIR);
  app = await startTestApp(primaryUrl, replicaUrls, ENV, { logger: recorder });
  encoreRuntime().databases = new Map([
    ["primary", primaryUrl],
    ["replica_1", replicaUrls[0]!],
    ["replica_2", replicaUrls[1]!],
    ["replica_3", primaryUrl],
  ]);
  encore = await loadEncoreInstance(
    { AdminToken: ADMIN_TOKEN, CursorSecret: CURSOR_SECRET, ReplicaUrls: "[]" },
    {
      MAX_CONCURRENT_QUERIES_PER_USER: "1",
      CONCURRENCY_CAP_WAIT: "1ms",
      FLEET_NAME: `tenants-${process.pid}`,
    },
  );
});

afterAll(async () => {
  await app?.close();
  await encore?.close();
});

describe.each([
  ["standalone", standaloneDoor],
  ["Encore", encoreDoor],
] as const)("callers and tenants, %s front door", (_name, makeDoor) => {
  let door: Door;
  let key: string;
  let keyId: string;
  let otherRow: string;

  beforeAll(async () => {
    door = makeDoor();
    ({ key, id: keyId } = await door.issue(`owner-of-${mine}`, [mine]));
    secrets.add(key);
    const otherKey = await door.issue(`owner-of-${other}`, [other]);
    secrets.add(otherKey.key);
    const created = await door.create(otherKey.key, other);
    expect(created.code, created.message).toBe("ok");
    otherRow = String(created.body.id);
  });

  it("no key, or one that is not a key, is a 401 on domain endpoints", async () => {
    for (const k of [null, "not-a-key", `${key}x`, key.replace(/.$/, "A")]) {
      if (k === key) continue;
      expect((await door.list(k, mine)).code).toBe("unauthenticated");
      expect((await door.create(k, mine)).code).toBe("unauthenticated");
    }
  });

  it("a key reads and writes its own org", async () => {
    const created = await door.create(key, mine);
    expect(created.code, created.message).toBe("ok");
    const got = await door.get(key, mine, String(created.body.id));
    expect(got.code, got.message).toBe("ok");
  });

  it("another org is a 403 that does not say whether it exists", async () => {
    const existing = await door.list(key, other);
    const missing = await door.list(key, never);
    expect(existing.code).toBe("permission_denied");
    expect(missing.code).toBe("permission_denied");
    // The same answer but for the id the caller sent.
    expect(existing.message.replace(String(other), "N")).toBe(
      missing.message.replace(String(never), "N"),
    );
    // A row that exists in the other org and one that does not: alike.
    const row = await door.get(key, other, otherRow);
    const noRow = await door.get(key, other, "999999999");
    expect(row.code).toBe("permission_denied");
    expect(noRow).toEqual(row);
    expect((await door.create(key, other)).code).toBe("permission_denied");
    // Totals over a list that includes the other org.
    expect((await door.totals(key, `${mine},${other}`)).code).toBe(
      "permission_denied",
    );
    expect((await door.totals(key, `${mine}`)).code).toBe("ok");
  });

  it("per-user caps count the key's user, not a header", async () => {
    // Each request names another user in X-User-Id: not read, still capped.
    const burst = await Promise.all(
      Array.from({ length: 30 }, (_, i) => door.list(key, mine, `user-${i}`)),
    );
    const capped = burst.filter((r) => r.code === "resource_exhausted").length;
    expect(
      capped,
      "one user, cap 1: some reads wait past 1 ms",
    ).toBeGreaterThan(0);
  });

  it("a revoked key is a 401 from the next request on", async () => {
    const { id, key: doomed } = await door.issue("leaver", [mine]);
    secrets.add(doomed);
    expect((await door.list(doomed, mine)).code).toBe("ok");
    expect((await door.revoke(id)).code).toBe("ok");
    expect((await door.list(doomed, mine)).code).toBe("unauthenticated");
  });

  it("the key is stored as a digest only, on the primary and on a replica", async () => {
    // rrk_<16 hex id>_<secret>: the secret may itself hold "_".
    const secretPart = key.slice("rrk_".length + 17);
    expect(secretPart).toHaveLength(32);
    for (const url of [primaryUrl, replicaUrls[0]!]) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        // The replica may be a moment behind the issue.
        let rows: { row: string }[] = [];
        for (let i = 0; i < 100 && rows.length === 0; i++) {
          ({ rows } = await c.query(
            "SELECT row_to_json(k)::text AS row FROM api_keys k WHERE id = $1",
            [keyId],
          ));
          if (rows.length === 0) await new Promise((r) => setTimeout(r, 50));
        }
        expect(rows).toHaveLength(1);
        expect(rows[0]!.row).not.toContain(secretPart);
        expect(rows[0]!.row).not.toContain(key);
      } finally {
        await c.end();
      }
    }
  });

  it("strong reads are allowed by default", async () => {
    const strong = await door.read(key, mine, "strong");
    expect(strong.code, strong.message).toBe("ok");
    expect(strong.servedBy).toBe("primary");
  });
});

describe("CALLER_PRIMARY_READS", () => {
  /** A key for `userId` on `mine`, issued by `on`'s admin API, as the header that carries it. */
  const keyHeader = async (on: TestApp, userId: string) => {
    const { body } = await on.call(
      "POST",
      "/v1/system/database/api-keys",
      { userId, orgIds: [mine] },
      { authorization: `Bearer ${ADMIN_TOKEN}` },
    );
    secrets.add(body.key);
    return { authorization: `Bearer ${body.key}` };
  };

  it("refuse: strong is a 403, eventual still served", async () => {
    const refusing = await startTestApp(primaryUrl, replicaUrls, {
      ...ENV,
      CALLER_PRIMARY_READS: "refuse",
    });
    try {
      const auth = await keyHeader(refusing, "reader");
      const path = `/v1/finance/orgs/${mine}/revenues`;
      const strong = await refusing.call("GET", path, undefined, {
        ...auth,
        "x-consistency": "strong",
      });
      expect(strong.status).toBe(403);
      expect(strong.body.message).toContain("CALLER_PRIMARY_READS");
      // A made-up token (another cluster, or none) is not a way around it.
      const madeUp = await refusing.call("GET", path, undefined, {
        ...auth,
        "x-consistency-token": "nowhere:0/0",
      });
      expect(madeUp.status, JSON.stringify(madeUp.body)).toBe(503);
      const eventual = await refusing.call("GET", path, undefined, auth);
      expect(eventual.status).toBe(200);
      expect(eventual.servedBy).toMatch(/^replica_/);
    } finally {
      await refusing.close();
    }
  });

  it("a count caps each user's reads on the primary at once", async () => {
    const capping = await startTestApp(primaryUrl, replicaUrls, {
      ...ENV,
      MAX_CONCURRENT_QUERIES_PER_USER: "",
      CALLER_PRIMARY_READS: "1",
    });
    try {
      const auth = await keyHeader(capping, "hammer");
      const path = `/v1/finance/orgs/${mine}/revenues`;
      const burst = (consistency?: string) =>
        Promise.all(
          Array.from({ length: 30 }, () =>
            capping.call("GET", path, undefined, {
              ...auth,
              ...(consistency !== undefined
                ? { "x-consistency": consistency }
                : {}),
            }),
          ),
        );
      const strong = await burst("strong");
      expect(strong.some((r) => r.status === 429)).toBe(true);
      expect(strong.filter((r) => r.status === 200).length).toBeGreaterThan(0);
      // Eventual reads are not the policy's business.
      expect((await burst()).every((r) => r.status === 200)).toBe(true);
    } finally {
      await capping.close();
    }
  });
});

describe("AUTH=off", () => {
  it("is refused with NODE_ENV=production, naming the variable", () => {
    const env = {
      DATABASE_URL: primaryUrl,
      AUTH: "off",
      NODE_ENV: "production",
    };
    expect(() => loadConfig(env)).toThrow(/AUTH: .*NODE_ENV=production/);
    expect(() => loadConfig({ ...env, NODE_ENV: "development" })).not.toThrow();
  });
});

describe("no secret in any answer or log line of this suite", () => {
  it("scans every response body and log line", () => {
    expect(secrets.size).toBeGreaterThan(4);
    expect(answered.length).toBeGreaterThan(20);
    expect(logged.length).toBeGreaterThan(0);
    // Issued keys come back once, in the issue answer (not recorded above).
    for (const s of secrets) {
      for (const line of [...answered, ...logged])
        expect(
          line.includes(s),
          `${s.slice(0, 8)}… in ${line.slice(0, 120)}`,
        ).toBe(false);
    }
  });
});

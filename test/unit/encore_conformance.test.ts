/**
 * Encore conformance: the app's Encore files obey the parser and runtime
 * rules of test/encore/conformance.ts (each names the encoredev/encore source
 * it mirrors). `tsc` passes on code that Encore refuses to parse, so this is
 * the only gate for `encore run` / `encore build` on machines without the
 * Encore CLI. Each rule is also shown to fire on a small bad fixture, so a
 * rule that silently stops checking fails here.
 */
import type { ApiKeyStore } from "../../backend/shared/auth/key_store";
import { LoginThrottle } from "../../backend/shared/http/login_guard";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { DOMAINS } from "../../backend/domains";
import { databaseRoutes } from "../../backend/database/http/database_routes";
import { buildEndpoints } from "../../backend/shared/domain";
import { CursorCodec } from "../../backend/shared/http/cursor";
import type { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import type { RouterRoles } from "../../backend/database/router/roles";
import type { FleetControl } from "../../backend/database/control/fleet_control";
import type { DashboardFeeds } from "../../backend/database/dashboard/dashboard_feeds";
import { MAX_BODY_BYTES } from "../../backend/standalone/http_io";
import {
  checkEncoreApp,
  RULES,
  type RuleId,
  type Violation,
} from "../encore/conformance";

const root = path.resolve(import.meta.dirname, "../..");

/** The standalone route table (handlers are not called: a stand-in router will do). */
function standaloneRoutes() {
  const router = {} as ReplicaRouter;
  const codec = new CursorCodec("conformance-cursor-secret-0123");
  return [
    ...databaseRoutes(
      {
        router: {} as RouterRoles,
        metrics: {} as RouterMetrics,
        control: {} as FleetControl,
        feeds: {} as DashboardFeeds,
        tokens: {
          monitoringToken: null,
          adminToken: null,
          sessionSecret: "conformance-session-secret",
        },
        logins: new LoginThrottle(),
        keys: {} as ApiKeyStore,
      },
      () => ({ services: new Set(), endpoints: new Set() }),
    ),
    ...DOMAINS.flatMap((d) =>
      Object.values(buildEndpoints(d, { router, codec })),
    ),
  ].map((r) => ({
    method: r.method,
    path: r.path,
    ...(r.successStatus !== undefined
      ? { successStatus: r.successStatus }
      : {}),
  }));
}

const show = (vs: readonly Violation[]) =>
  vs.map((v) => `${v.rule} at ${v.where}: ${v.message}`).join("\n");

describe("Encore conformance of this app", () => {
  const result = checkEncoreApp({
    root,
    standaloneRoutes: standaloneRoutes(),
    bodyLimitBytes: MAX_BODY_BYTES,
  });

  it("breaks no rule", () => {
    expect(show(result.violations)).toBe("");
  });

  it("sees every endpoint of every Encore service", () => {
    const files = new Set(result.endpoints.map((e) => e.file));
    expect([...files].sort()).toEqual(
      [
        "backend/database/encore/admin_api.ts",
        "backend/database/encore/monitoring_api.ts",
        ...DOMAINS.map((d) => `backend/${d.name}/api.ts`),
      ].sort(),
    );
    expect(result.endpoints.length).toBe(standaloneRoutes().length);
  });
});

// -----------------------------------------------------------------------------
// Each rule fires on a bad fixture and stays quiet on its good twin.

const fixtureRoot = path.join(root, ".data", "conformance-fixture");

/** Checks a virtual app of `files` (relative path -> source) and returns its violations. */
function check(
  files: Record<string, string>,
  standalone?: { method: string; path: string; successStatus?: number }[],
  bodyLimitBytes?: number,
): Violation[] {
  const overlay = new Map(
    Object.entries(files).map(([f, text]) => [path.join(fixtureRoot, f), text]),
  );
  return checkEncoreApp({
    root: fixtureRoot,
    overlay,
    ...(standalone !== undefined ? { standaloneRoutes: standalone } : {}),
    ...(bodyLimitBytes !== undefined ? { bodyLimitBytes } : {}),
  }).violations;
}

const SERVICE = {
  "backend/svc/encore.service.ts": `import { Service } from "encore.dev/service";\nexport default new Service("svc");\n`,
};
const MIGRATIONS = {
  "backend/svc/migrations/1_init.up.sql": "CREATE TABLE t (id int);",
};

function rulesOf(vs: readonly Violation[]): RuleId[] {
  return [...new Set(vs.map((v) => v.rule))].sort();
}

const CACHE_KEYSPACES_BAD = `import { CacheCluster, IntKeyspace as Counter, StringKeyspace, StructKeyspace } from "encore.dev/storage/cache";
const cluster = new CacheCluster("c");
const pattern = "a/:key";
interface K { org: number; table: string }
export const a = new StringKeyspace<string>(cluster, { keyPattern: pattern });
export const b = new StringKeyspace<string>(cluster, { keyPattern: "b/:id" });
export const c = new Counter<string>(cluster, { keyPattern: "c/:key" });
export const d = new StringKeyspace<K>(cluster, { keyPattern: "d/:org/:org2" });
export const e = new StringKeyspace(cluster, { keyPattern: "e/:key" });
export const f = new StructKeyspace<string, string>(cluster, { keyPattern: "__encore/:key" });
export const g = (cl: CacheCluster) => new StringKeyspace<string>(cl, { keyPattern: "g/:key" });
`;
const CACHE_KEYSPACES_GOOD = `import { CacheCluster, IntKeyspace, StringKeyspace, StructKeyspace, expireIn } from "encore.dev/storage/cache";
const cluster = new CacheCluster("c");
interface K { org: number; table: string }
interface V { total: string }
export const a = new StringKeyspace<string>(cluster, { keyPattern: "a/:key", defaultExpiry: expireIn(1000) });
export const c = new IntKeyspace<string>(cluster, { keyPattern: "c/:key" });
export const d = new StringKeyspace<K>(cluster, { keyPattern: "d/:org/:table" });
export const f = new StructKeyspace<string, V>(cluster, { keyPattern: "f/:key" });
`;

/** A valid auth handler and gateway, for fixtures with auth: true endpoints. */
const AUTH_HANDLER = `import { APIError, Gateway, type Header } from "encore.dev/api";\nimport { authHandler } from "encore.dev/auth";\ninterface P { authorization: Header<"Authorization"> }\nexport const h = authHandler<P, { userID: string }>(async (p) => { if (p.authorization === "x") return { userID: "a" }; throw APIError.unauthenticated("no"); });\nexport const gateway = new Gateway({ authHandler: h });\n`;

const CASES: {
  rule: RuleId;
  what: string;
  bad: Record<string, string>;
  good: Record<string, string>;
  standalone?: { method: string; path: string; successStatus?: number }[];
  bodyLimitBytes?: number;
}[] = [
  {
    rule: "migrations-path",
    what: 'migrations: "../../migrations" (a path with ..)',
    bad: {
      ...SERVICE,
      "migrations/1_init.up.sql": "SELECT 1;",
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const db = new SQLDatabase("main", { migrations: "../../migrations" });\n`,
    },
    good: {
      ...SERVICE,
      ...MIGRATIONS,
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const db = new SQLDatabase("main", { migrations: "./migrations" });\n`,
    },
  },
  {
    rule: "migrations-path",
    what: "a migration file Encore would not accept",
    bad: {
      ...SERVICE,
      "backend/svc/migrations/init.sql": "SELECT 1;",
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const db = new SQLDatabase("main", { migrations: "./migrations" });\n`,
    },
    good: {
      ...SERVICE,
      ...MIGRATIONS,
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const db = new SQLDatabase("main", { migrations: "./migrations" });\n`,
    },
  },
  {
    rule: "resource-usage",
    what: "databases in an array literal",
    bad: {
      ...SERVICE,
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const a = new SQLDatabase("a");\nexport const b = new SQLDatabase("b");\nexport const urls = [a, b].map((d) => d.connectionString);\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/db.ts": `import { SQLDatabase } from "encore.dev/storage/sqldb";\nexport const a = new SQLDatabase("a");\nexport const b = new SQLDatabase("b");\nexport const urls = [a.connectionString, b.connectionString];\nconsole.log(a);\n`,
    },
  },
  {
    rule: "resource-usage",
    what: "a metric passed around as a value",
    bad: {
      ...SERVICE,
      "backend/svc/m.ts": `import { Counter } from "encore.dev/metrics";\nexport const c = new Counter("hits_total");\nconsole.log(c);\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/m.ts": `import { Counter } from "encore.dev/metrics";\nexport const c = new Counter("hits_total");\nc.increment();\nconsole.log(c.ref());\n`,
    },
  },
  {
    rule: "resource-declaration",
    what: "a metric declared twice, and one with the reserved label service",
    bad: {
      ...SERVICE,
      "backend/svc/m.ts": `import { Counter, CounterGroup } from "encore.dev/metrics";\ninterface L { service: string }\nexport const c = new Counter("hits_total");\nexport const d = new Counter("hits_total");\nexport const g = new CounterGroup<L>("by_service_total");\nc.increment(); d.increment(); g.with({ service: "x" }).increment();\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/m.ts": `import { Counter, CounterGroup } from "encore.dev/metrics";\ninterface L { node: string }\nexport const c = new Counter("hits_total");\nexport const g = new CounterGroup<L>("by_node_total");\nc.increment(); g.with({ node: "x" }).increment();\n`,
    },
  },
  {
    rule: "resource-declaration",
    what: "a secret named by a variable, inside a function",
    bad: {
      ...SERVICE,
      "backend/svc/s.ts": `import { secret } from "encore.dev/config";\nconst NAME = "Token";\nexport function get() { const s = secret(NAME as "Token"); return s(); }\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/s.ts": `import { secret } from "encore.dev/config";\nconst token = secret("Token");\nexport function get() { return token(); }\n`,
    },
  },
  {
    rule: "endpoint-declaration",
    what: "options in a variable, endpoint not exported",
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, type APIOptions } from "encore.dev/api";\nconst opts: APIOptions = { method: "GET", path: "/x" };\nconst x = api(opts, async (): Promise<void> => {});\nexport { x };\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "GET", path: "/x" }, async (): Promise<void> => {});\n`,
    },
  },
  {
    rule: "endpoint-service",
    what: "an endpoint outside any service folder",
    bad: {
      "backend/loose/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "GET", path: "/x" }, async (): Promise<void> => {});\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "GET", path: "/x" }, async (): Promise<void> => {});\n`,
    },
  },
  {
    rule: "route-conflict",
    what: "/r/:id/a beside /r/:name/b",
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface A { id: string }\ninterface B { name: string }\nexport const a = api({ method: "GET", path: "/r/:id/a" }, async (r: A): Promise<void> => { void r; });\nexport const b = api({ method: "GET", path: "/r/:name/b" }, async (r: B): Promise<void> => { void r; });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface A { id: string }\nexport const a = api({ method: "GET", path: "/r/:id/a" }, async (r: A): Promise<void> => { void r; });\nexport const b = api({ method: "GET", path: "/r/:id/b" }, async (r: A): Promise<void> => { void r; });\nexport const c = api({ method: "GET", path: "/r/sum" }, async (): Promise<void> => {});\n`,
    },
  },
  {
    rule: "path-params",
    what: "a path parameter missing from the request type",
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface Req { id: string }\nexport const x = api({ method: "GET", path: "/x/:id/:other" }, async (r: Req): Promise<void> => { void r; });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface Req { id: string; other: string }\nexport const x = api({ method: "GET", path: "/x/:id/:other" }, async (r: Req): Promise<void> => { void r; });\n`,
    },
  },
  {
    rule: "sensitive",
    what: "an endpoint taking a connection string and a bearer token without sensitive: true",
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, type Header } from "encore.dev/api";\ninterface Req { authorization?: Header<"Authorization">; connectionString?: unknown }\nexport const x = api({ method: "POST", path: "/x" }, async (r: Req): Promise<void> => { void r; });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, type Header } from "encore.dev/api";\ninterface Req { authorization?: Header<"Authorization">; connectionString?: unknown }\nexport const x = api({ method: "POST", path: "/x", sensitive: true }, async (r: Req): Promise<void> => { void r; });\n`,
    },
  },
  {
    rule: "sensitive",
    what: "an auth: true endpoint without sensitive: true (its caller's key would be in traces)",
    bad: {
      ...SERVICE,
      "backend/svc/auth.ts": AUTH_HANDLER,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "GET", path: "/x", auth: true }, async (): Promise<void> => {});\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/auth.ts": AUTH_HANDLER,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "GET", path: "/x", auth: true, sensitive: true }, async (): Promise<void> => {});\n`,
    },
  },
  {
    rule: "auth-handler",
    what: "an auth handler that answers permission_denied (fails public requests too)",
    bad: {
      ...SERVICE,
      "backend/svc/auth.ts": `import { APIError, Gateway, type Header } from "encore.dev/api";\nimport { authHandler } from "encore.dev/auth";\ninterface P { authorization: Header<"Authorization"> }\nexport const h = authHandler<P, { userID: string }>(async (p) => { if (p.authorization === "x") return { userID: "a" }; throw APIError.permissionDenied("no"); });\nexport const gateway = new Gateway({ authHandler: h });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/auth.ts": `import { APIError, Gateway, type Header } from "encore.dev/api";\nimport { authHandler } from "encore.dev/auth";\ninterface P { authorization: Header<"Authorization"> }\nexport const h = authHandler<P, { userID: string }>(async (p) => { if (p.authorization === "x") return { userID: "a" }; throw APIError.unauthenticated("no"); });\nexport const gateway = new Gateway({ authHandler: h });\n`,
    },
  },
  {
    rule: "success-status",
    what: "a create answering 200 under Encore and 201 standalone",
    standalone: [{ method: "POST", path: "/x", successStatus: 201 }],
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\nexport const x = api({ method: "POST", path: "/x" }, async (): Promise<{ id: string }> => ({ id: "1" }));\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, HttpStatus } from "encore.dev/api";\nexport const x = api({ method: "POST", path: "/x" }, async (): Promise<{ id: string; status: HttpStatus }> => ({ id: "1", status: HttpStatus.Created }));\n`,
    },
  },
  {
    rule: "body-limit",
    what: "a POST without the standalone body limit (Encore would take 2 MiB)",
    bodyLimitBytes: 1048576,
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface Req { a?: unknown }\nexport const x = api({ method: "POST", path: "/x" }, async (r: Req): Promise<void> => { void r; });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api } from "encore.dev/api";\ninterface Req { a?: unknown }\nexport const x = api({ method: "POST", path: "/x", bodyLimit: 1048576 }, async (r: Req): Promise<void> => { void r; });\n`,
    },
  },
  {
    rule: "required-fields",
    what: "a required body field Encore refuses before the handler names it",
    bad: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, type Query } from "encore.dev/api";\ninterface Req { id: string; amount: number }\ninterface Typed { id: string; amount?: number }\ninterface Q { limit?: Query<number> }\nexport const x = api({ method: "POST", path: "/x/:id" }, async (r: Req): Promise<void> => { void r; });\nexport const y = api({ method: "POST", path: "/y/:id" }, async (r: Typed): Promise<void> => { void r; });\nexport const z = api({ method: "GET", path: "/z" }, async (r: Q): Promise<void> => { void r; });\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/api.ts": `import { api, type Query } from "encore.dev/api";\ninterface Req { id: string; amount?: unknown }\ninterface Q { limit?: Query<string> }\nexport const x = api({ method: "POST", path: "/x/:id" }, async (r: Req): Promise<void> => { void r; });\nexport const z = api({ method: "GET", path: "/z" }, async (r: Q): Promise<void> => { void r; });\n`,
    },
  },
  {
    rule: "cache-declaration",
    what: "a cluster named twice, its eviction policy in a variable",
    bad: {
      ...SERVICE,
      "backend/svc/cache.ts": `import { CacheCluster, type EvictionPolicy } from "encore.dev/storage/cache";\nconst policy: EvictionPolicy = "allkeys-lru";\nexport const a = new CacheCluster("c", { evictionPolicy: policy });\nexport const b = new CacheCluster("c");\n`,
    },
    good: {
      ...SERVICE,
      "backend/svc/cache.ts": `import { CacheCluster } from "encore.dev/storage/cache";\nexport const a = new CacheCluster("c", { evictionPolicy: "volatile-ttl" });\nexport const b = CacheCluster.named("c");\n`,
    },
  },
  {
    rule: "cache-declaration",
    what: "keyspaces Encore cannot read: pattern in a variable, :id for a string key, a renamed class, a key field missing from the pattern",
    bad: { ...SERVICE, "backend/svc/cache.ts": CACHE_KEYSPACES_BAD },
    good: { ...SERVICE, "backend/svc/cache.ts": CACHE_KEYSPACES_GOOD },
  },
  {
    rule: "cache-declaration",
    what: "a keyspace outside any service folder",
    bad: {
      ...SERVICE,
      "backend/shared/cache.ts": `import { CacheCluster, StringKeyspace } from "encore.dev/storage/cache";\nexport const cluster = new CacheCluster("c");\nexport const entries = new StringKeyspace<string>(cluster, { keyPattern: "e/:key" });\n`,
    },
    good: {
      ...SERVICE,
      "backend/shared/cluster.ts": `import { CacheCluster } from "encore.dev/storage/cache";\nexport const cluster = new CacheCluster("c");\n`,
      "backend/svc/cache.ts": `import { StringKeyspace } from "encore.dev/storage/cache";\nimport { cluster } from "../shared/cluster";\nexport const entries = new StringKeyspace<string>(cluster, { keyPattern: "e/:key" });\n`,
    },
  },
];

describe("each rule fires on a bad fixture", () => {
  it("every rule has a fixture", () => {
    expect(new Set(CASES.map((c) => c.rule))).toEqual(
      new Set(Object.keys(RULES)),
    );
  });

  for (const c of CASES) {
    it(`${c.rule}: ${c.what}`, () => {
      const bad = check(c.bad, c.standalone, c.bodyLimitBytes);
      expect(rulesOf(bad), show(bad)).toContain(c.rule);
      const good = check(c.good, c.standalone, c.bodyLimitBytes);
      expect(show(good)).toBe("");
    });
  }
});

describe("cache-declaration reports each keyspace Encore refuses", () => {
  it("once per bad declaration, at its line, with cache.rs's words", () => {
    const bad = check({
      ...SERVICE,
      "backend/svc/cache.ts": CACHE_KEYSPACES_BAD,
    });
    const lines = bad.map((v) => [v.where.replace(/^.*:/, ""), v.message]);
    expect(lines).toEqual([
      ["5", expect.stringMatching(/keyPattern: "expected string literal"/)],
      ["6", expect.stringMatching(/must be named ':key'.*b\/:id/)],
      [
        "7",
        expect.stringMatching(/^IntKeyspace: use the class by its own name/),
      ],
      [
        "8",
        expect.stringMatching(/field 'table' is not used in the keyPattern/),
      ],
      ["8", expect.stringMatching(/parameter 'org2' does not exist/)],
      ["9", expect.stringMatching(/"missing key type parameter"/)],
      ["10", expect.stringMatching(/prefix `__encore` is reserved/)],
      ["10", expect.stringMatching(/value type must be an interface/)],
      [
        "11",
        expect.stringMatching(/could not resolve cache cluster reference/),
      ],
    ]);
    expect(rulesOf(bad)).toEqual(["cache-declaration"]);
  });

  it("and each cluster Encore would not provision as written", () => {
    const bad = check({
      ...SERVICE,
      "backend/svc/cache.ts": `import * as cache from "encore.dev/storage/cache";
import { CacheCluster, type EvictionPolicy } from "encore.dev/storage/cache";
const policy: EvictionPolicy = "allkeys-lru";
export const a = new CacheCluster("c", { evictionPolicy: policy });
export const b = new CacheCluster("c", { evictionPolicy: "allkeys-lru", ...{} });
export const n = new cache.CacheCluster("n");
export function make() { return new CacheCluster("m"); }
`,
    });
    const lines = bad.map((v) => [v.where.replace(/^.*:/, ""), v.message]);
    expect(lines).toEqual([
      ["4", expect.stringMatching(/evictionPolicy must be one of/)],
      [
        "5",
        expect.stringMatching(
          /"cache cluster with this name already defined": c/,
        ),
      ],
      ["5", expect.stringMatching(/no spread/)],
      ["6", expect.stringMatching(/a namespaced class is not seen/)],
      ["7", expect.stringMatching(/initializer of a top-level const/)],
    ]);
  });

  it("checks the app's own cache declarations", () => {
    const file = "backend/database/encore/cache_store.ts";
    const result = checkEncoreApp({ root, files: [file] });
    expect(show(result.violations)).toBe("");
    const renamed = checkEncoreApp({
      root,
      files: [file],
      overlay: new Map([
        [
          path.join(root, file),
          fs
            .readFileSync(path.join(root, file), "utf8")
            .replace('keyPattern: "g/:key"', 'keyPattern: "g/:name"'),
        ],
      ]),
    });
    expect(show(renamed.violations)).toMatch(/must be named ':key'/);
  });
});

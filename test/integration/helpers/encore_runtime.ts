/**
 * Stand-ins for the encore.dev modules, behaving as Encore's runtime does
 * where this app depends on it (ENCORE.md section 6), and a loader that
 * runs the app's Encore files for real against the suite's servers: the
 * declared `SQLDatabase`s point where {@link encoreRuntime} says, secrets
 * come from it, and every endpoint function can be called as Encore's
 * gateway would call it.
 *
 * A test file installs the stand-ins with the `vi.mock` calls below (they
 * are hoisted, so each file writes them itself):
 *
 * ```ts
 * const standIns = await vi.hoisted(() => import("./helpers/encore_runtime"));
 * vi.mock("encore.dev", () => standIns.root());
 * vi.mock("encore.dev/api", () => standIns.api());
 * vi.mock("encore.dev/auth", () => standIns.auth());
 * vi.mock("encore.dev/internal/codegen/auth", () => standIns.authData());
 * vi.mock("encore.dev/config", () => standIns.config());
 * vi.mock("encore.dev/storage/sqldb", () => standIns.sqldb());
 * vi.mock("encore.dev/metrics", () => standIns.metrics());
 * vi.mock("../../node_modules/encore.dev/internal/runtime/mod.ts", () => standIns.runtime());
 * vi.mock("encore.dev/storage/cache", () => standIns.cache());
 * ```
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { vi } from "vitest";
import { noteSecrets, record } from "../../support/secret_scan";
import { HttpStatusValues } from "../../../node_modules/encore.dev/api/httpstatus";

/** What the stand-ins read (set before an instance is loaded) and record. */
export interface EncoreRuntime {
  databases: Map<string, string>;
  secrets: Map<string, string>;
  authHandlers: unknown[];
}

// On globalThis: vi.resetModules() gives each loaded instance fresh
// modules, this one included, but they must all read the same settings.
const KEY = Symbol.for("replica-router.encore-runtime");
const shared = globalThis as { [KEY]?: EncoreRuntime };

/** The settings and records every stand-in shares. */
export function encoreRuntime(): EncoreRuntime {
  return (shared[KEY] ??= {
    databases: new Map(),
    secrets: new Map(),
    authHandlers: [],
  });
}

/** encore.dev's root loads the native runtime; the app uses only appMeta from it. */
export function root() {
  return { appMeta: () => ({ build: { revision: "encore-path-test" } }) };
}

/** encore.dev/api: api() returns the handler (encore.dev/api/mod.ts); keep the options to route by. */
export function api() {
  class APIError extends Error {
    constructor(
      readonly code: string,
      message: string,
      readonly cause?: Error,
    ) {
      super(message);
    }
  }
  const ErrCode = {
    InvalidArgument: "invalid_argument",
    NotFound: "not_found",
    Unauthenticated: "unauthenticated",
    PermissionDenied: "permission_denied",
    ResourceExhausted: "resource_exhausted",
    Unavailable: "unavailable",
    Internal: "internal",
  };
  const apiFn = Object.assign(
    (options: unknown, fn: object) => Object.assign(fn, { options }),
    {
      raw: (options: unknown, fn: object) =>
        Object.assign(fn, { options, raw: true }),
    },
  );
  class Gateway {
    constructor(readonly config: unknown) {}
  }
  return {
    api: apiFn,
    APIError,
    ErrCode,
    HttpStatus: HttpStatusValues,
    Gateway,
  };
}

export function auth() {
  return {
    authHandler: (fn: unknown) => {
      encoreRuntime().authHandlers.push(fn);
      return fn;
    },
  };
}

// The auth data of the request being handled, as Encore's runtime keeps it
// per request (encore.dev/internal/auth/mod.ts reads the current request's).
const currentAuth = new AsyncLocalStorage<unknown>();

/** encore.dev/internal/codegen/auth (what `~encore/auth` re-exports). */
export function authData() {
  return { getAuthData: () => currentAuth.getStore() ?? null };
}

export function config() {
  return {
    // Outside `encore run` an unset secret throws (encore.dev/config/secrets.ts).
    secret: (name: string) => () => {
      const v = encoreRuntime().secrets.get(name);
      if (v === undefined) throw new Error(`secret ${name} is not set`);
      return v;
    },
  };
}

export function sqldb() {
  return {
    SQLDatabase: class {
      constructor(readonly name: string) {}
      get connectionString(): string {
        return encoreRuntime().databases.get(this.name)!;
      }
    },
  };
}

export function metrics() {
  const group = class {
    with() {
      return { increment() {}, set() {} };
    }
  };
  return {
    Counter: group,
    CounterGroup: group,
    Gauge: group,
    GaugeGroup: group,
  };
}

// encore.dev/storage/cache: its own TypeScript sources (key mapping,
// expiry, CacheKeyExists) over an in-memory cluster standing in for the
// native runtime's Redis, shared by every instance as a real one would be.
const items = new Map<string, { value: Buffer; expiresAtMs?: number }>();

/** The native runtime, as far as encore.dev/storage/cache reaches it. */
export function runtime() {
  const live = (k: string) => {
    const item = items.get(k);
    if (item?.expiresAtMs !== undefined && item.expiresAtMs <= Date.now())
      items.delete(k);
    return items.get(k);
  };
  const at = (ttlMs?: number | null) =>
    ttlMs === undefined || ttlMs === null || ttlMs < 0
      ? undefined
      : Date.now() + ttlMs;
  const cluster = {
    get: async (k: string) => live(k)?.value ?? null,
    mget: async (ks: string[]) => ks.map((k) => live(k)?.value ?? null),
    set: async (k: string, value: Buffer, ttlMs?: number | null) => {
      items.set(k, { value, expiresAtMs: at(ttlMs) });
    },
    setIfNotExists: async (k: string, value: Buffer, ttlMs?: number | null) => {
      if (live(k) !== undefined) return false;
      items.set(k, { value, expiresAtMs: at(ttlMs) });
      return true;
    },
    incrBy: async (k: string, delta: number, ttlMs?: number | null) => {
      const next = Number(live(k)?.value.toString() ?? 0) + delta;
      items.set(k, {
        value: Buffer.from(String(next)),
        expiresAtMs: at(ttlMs),
      });
      return next;
    },
  };
  return { RT: { cacheCluster: () => cluster } };
}

export async function cache() {
  const src = "../../../node_modules/encore.dev/storage/cache/mod.ts";
  return await import(/* @vite-ignore */ src);
}

/** An endpoint function as the stand-in `api()` returns it. */
export type Endpoint = ((req: Record<string, unknown>) => Promise<unknown>) & {
  options: { method: string; path: string; auth?: boolean };
  /** The auth handler of the instance it belongs to (its gateway's). */
  gatewayAuthHandler?: unknown;
};

/** One loaded Encore instance: every service's endpoints, by service. */
export interface EncoreInstance {
  /** Each domain's `api.ts` exports, by service name. */
  domains: Record<string, Record<string, Endpoint>>;
  /** The database service's endpoints (monitoring_api.ts and admin_api.ts). */
  database: Record<string, Endpoint>;
  close(): Promise<void>;
}

/**
 * Loads a fresh copy of the Encore files, as one Encore instance: the
 * composed service, every domain of backend/domains.ts and the database
 * service's endpoints; resolves once the service has started.
 */
export async function loadEncoreInstance(
  secrets: Record<string, string>,
  env: Record<string, string> = {},
): Promise<EncoreInstance> {
  vi.resetModules();
  encoreRuntime().secrets = new Map(Object.entries(secrets));
  // Both: a secret with a value wins at run time, but a variable may be read.
  noteSecrets(env);
  noteSecrets({
    ADMIN_TOKEN: secrets.AdminToken,
    MONITORING_TOKEN: secrets.MonitoringToken,
    CURSOR_SECRET: secrets.CursorSecret,
    SESSION_SECRET: secrets.SessionSecret,
  });
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  try {
    // Variable specifiers keep tsconfig.core.json from type-checking
    // encore.dev's own sources through these imports.
    const dir = "../../../backend";
    const encoreService = await import(
      /* @vite-ignore */ `${dir}/database/encore/service`
    );
    const { DOMAINS } = (await import(/* @vite-ignore */ `${dir}/domains`)) as {
      DOMAINS: readonly { name: string }[];
    };
    const domains: Record<string, Record<string, Endpoint>> = {};
    for (const d of DOMAINS)
      domains[d.name] = await import(/* @vite-ignore */ `${dir}/${d.name}/api`);
    const database = {
      ...(await import(
        /* @vite-ignore */ `${dir}/database/encore/monitoring_api`
      )),
      ...(await import(/* @vite-ignore */ `${dir}/database/encore/admin_api`)),
    };
    await encoreService.serviceReady;
    // Each instance's gateway runs its own auth handler (the one its load declared).
    const handler = encoreRuntime().authHandlers.at(-1);
    for (const e of [...Object.values(domains), database].flatMap((m) =>
      Object.values(m),
    ))
      if (typeof e === "function") (e as Endpoint).gatewayAuthHandler = handler;
    return {
      domains,
      database,
      close: () => encoreService.service.close(),
    };
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * Encore's gateway before the handler: with an auth handler, a request that
 * carries any of its parameters is authenticated; an `unauthenticated` error
 * only fails endpoints that require auth, any other error fails every
 * request (runtimes/core/src/api/auth/mod.rs, api/gateway/mod.rs). Without
 * credentials an `auth: true` endpoint is a 401.
 * @returns the error the gateway would answer, or null to call the handler.
 */
async function gatewayAuth(
  endpoint: Endpoint,
  authorization: string | undefined,
): Promise<{ refused: { code: string; message: string } } | { data: unknown }> {
  const handler = endpoint.gatewayAuthHandler as
    ((p: { authorization?: string }) => Promise<unknown>) | undefined;
  const none = { code: "unauthenticated", message: "" };
  if (handler === undefined || authorization === undefined)
    return endpoint.options.auth === true ? { refused: none } : { data: null };
  try {
    return { data: await handler({ authorization }) };
  } catch (err) {
    const { code, message } = err as { code?: string; message: string };
    if (code === "unauthenticated")
      return endpoint.options.auth === true
        ? { refused: { code, message } }
        : { data: null };
    return { refused: { code: code ?? "internal", message } };
  }
}

/**
 * Calls `endpoint` as the gateway would with `authorization` on the wire.
 * A request to an endpoint that takes a body carries
 * `Content-Type: application/json`, as a JSON client's would, unless
 * `req.contentType` says otherwise.
 */
export async function callEndpoint(
  endpoint: Endpoint,
  req: Record<string, unknown>,
  authorization?: string,
): Promise<
  { ok: true; body: any } | { ok: false; code: string; message: string }
> {
  const result = await callThroughGateway(endpoint, req, authorization);
  // Every answer is scanned for secrets (test/support/secret_scan.ts).
  record(
    `${endpoint.options.method} ${endpoint.options.path}`,
    JSON.stringify(result),
  );
  return result;
}

async function callThroughGateway(
  endpoint: Endpoint,
  req: Record<string, unknown>,
  authorization: string | undefined,
): Promise<
  { ok: true; body: any } | { ok: false; code: string; message: string }
> {
  const auth = await gatewayAuth(endpoint, authorization);
  if ("refused" in auth) return { ok: false, ...auth.refused };
  const withBody = ["POST", "PUT", "PATCH"].includes(endpoint.options.method);
  const sent =
    withBody && !("contentType" in req)
      ? { ...req, contentType: "application/json" }
      : req;
  try {
    return {
      ok: true,
      body: await currentAuth.run(auth.data, () => endpoint(sent)),
    };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, code: e.code ?? "thrown", message: e.message };
  }
}

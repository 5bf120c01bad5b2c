import { describe, expect, it } from "vitest";
import {
  type DatabaseRouter,
  RouterError,
} from "../../backend/database/router/index";
import { silentLogger } from "../../backend/database/router/support/logger";
import { mintApiKey, presentedKey } from "../../backend/shared/auth/api_key";
import {
  PermissionDeniedError,
  requireOrgAccess,
  UnauthenticatedError,
} from "../../backend/shared/auth/caller";
import { ApiKeyStore } from "../../backend/shared/auth/key_store";
import { buildEndpoints, defineDomain } from "../../backend/shared/domain";
import type { RouteInput } from "../../backend/shared/http/route";

/** A router whose primary and replica answer key lookups from `rows`, counting them. */
function fakeRouter(rows: Map<string, object>) {
  const calls = { primary: 0, replica: 0 };
  let primaryDown = false;
  const lookup = (where: "primary" | "replica") => ({
    queryRow: async (_s: TemplateStringsArray, id: string) => {
      calls[where]++;
      if (where === "primary" && primaryDown)
        throw new RouterError("unavailable", "primary unavailable");
      return rows.get(id) ?? null;
    },
  });
  const router = {
    getWriteConnection: () => lookup("primary"),
    getReadConnection: () => lookup("replica"),
  } as unknown as DatabaseRouter;
  return {
    router,
    calls,
    setPrimaryDown: (down: boolean) => (primaryDown = down),
  };
}

function rowOf(m: ReturnType<typeof mintApiKey>, orgIds: string[] | null) {
  return {
    id: m.id,
    secret_hash: m.secretHash,
    user_id: "alice",
    org_ids: orgIds,
    label: "",
    created_by: null,
    created_at: new Date(),
    revoked_at: null,
  };
}

describe("API key format", () => {
  it("a minted key parses back; nothing else is taken for a key", () => {
    const m = mintApiKey();
    expect(presentedKey(`Bearer ${m.key}`)).toEqual({
      id: m.id,
      secret: m.secret,
    });
    expect(presentedKey(`bearer   ${m.key} `)?.id).toBe(m.id);
    for (const h of [
      undefined,
      "",
      m.key, // no scheme
      `Basic ${m.key}`,
      "Bearer some-admin-token-0123456789",
      `Bearer ${m.key}x`,
      `Bearer ${m.key.slice(0, -1)}`,
      `Bearer rrk_${m.id.toUpperCase()}_${m.secret}`,
    ])
      expect(presentedKey(h), String(h)).toBeNull();
    // Two keys never share an id or a secret.
    const n = mintApiKey();
    expect(n.id).not.toBe(m.id);
    expect(n.secret).not.toBe(m.secret);
  });
});

describe("ApiKeyStore.authenticate", () => {
  it("one lookup per key and TTL; the right secret only, before and after it is cached", async () => {
    const m = mintApiKey();
    const f = fakeRouter(new Map([[m.id, rowOf(m, ["42"])]]));
    let now = 1_000;
    const store = new ApiKeyStore(f.router, {
      cacheTtlMs: 5_000,
      logger: silentLogger,
      now: () => now,
    });
    const wrong = `Bearer rrk_${m.id}_${"A".repeat(32)}`;
    expect(await store.authenticate(wrong)).toBeNull();
    expect(await store.authenticate(`Bearer ${m.key}`)).toEqual({
      userId: "alice",
      orgs: [42],
    });
    // Verified once: a wrong secret for the same id still fails.
    expect(await store.authenticate(wrong)).toBeNull();
    expect(await store.authenticate(`Bearer ${m.key}`)).not.toBeNull();
    expect(f.calls.primary).toBe(1);
    now += 5_000;
    expect(await store.authenticate(`Bearer ${m.key}`)).not.toBeNull();
    expect(f.calls.primary).toBe(2);
  });

  it("an unknown id is remembered as unknown for the TTL (no lookup per request)", async () => {
    const f = fakeRouter(new Map());
    const store = new ApiKeyStore(f.router, {
      cacheTtlMs: 5_000,
      logger: silentLogger,
    });
    const m = mintApiKey();
    for (let i = 0; i < 3; i++)
      expect(await store.authenticate(`Bearer ${m.key}`)).toBeNull();
    expect(f.calls.primary).toBe(1);
    // Not a key at all: no lookup.
    expect(
      await store.authenticate("Bearer admin-token-0123456789"),
    ).toBeNull();
    expect(f.calls.primary).toBe(1);
  });

  it("a lookup that read the key before a revocation committed is not kept: the next request is refused", async () => {
    const m = mintApiKey();
    const rows = new Map<string, object>([[m.id, rowOf(m, ["42"])]]);
    let release: () => void = () => {};
    let lookups = 0;
    const router = {
      getWriteConnection: () => ({
        queryRow: async (s: TemplateStringsArray, id: string) => {
          if (s.join("?").includes("UPDATE")) {
            const row = rows.get(id);
            rows.delete(id); // revoked: the lookup's WHERE no longer matches
            return row ?? null;
          }
          const row = rows.get(id) ?? null;
          // The first lookup read the row, then stalls (its answer is late).
          if (++lookups === 1) await new Promise<void>((r) => (release = r));
          return row;
        },
      }),
    } as unknown as DatabaseRouter;
    const store = new ApiKeyStore(router, {
      cacheTtlMs: 60_000,
      logger: silentLogger,
    });
    const header = `Bearer ${m.key}`;
    const early = store.authenticate(header);
    // Another request shares the stalled lookup rather than start its own.
    const alongside = store.authenticate(header);
    await new Promise((r) => setTimeout(r, 5));
    expect(lookups).toBe(1);
    await store.revoke(m.id, "admin");
    release();
    // The stale "active" answer is looked up again, not kept.
    expect(await early).toBeNull();
    expect(await alongside).toBeNull();
    expect(await store.authenticate(header)).toBeNull();
    expect(lookups).toBe(2);
  });

  it("ids that name no key do not push real keys out of the cache", async () => {
    const m = mintApiKey();
    const f = fakeRouter(new Map([[m.id, rowOf(m, ["42"])]]));
    const store = new ApiKeyStore(f.router, {
      cacheTtlMs: 60_000,
      logger: silentLogger,
    });
    expect(await store.authenticate(`Bearer ${m.key}`)).not.toBeNull();
    for (let i = 0; i < 10_050; i++)
      await store.authenticate(`Bearer ${mintApiKey().key}`);
    const before = f.calls.primary;
    expect(await store.authenticate(`Bearer ${m.key}`)).not.toBeNull();
    expect(f.calls.primary).toBe(before);
  });

  it("with the primary down, a replica answers the lookup", async () => {
    const m = mintApiKey();
    const f = fakeRouter(new Map([[m.id, rowOf(m, null)]]));
    f.setPrimaryDown(true);
    const store = new ApiKeyStore(f.router, {
      cacheTtlMs: 5_000,
      logger: silentLogger,
    });
    expect(await store.authenticate(`Bearer ${m.key}`)).toEqual({
      userId: "alice",
      orgs: "all",
    });
    expect(f.calls).toEqual({ primary: 1, replica: 1 });
  });
});

describe("tenant checks", () => {
  it("401 without a caller, 403 for another org, a 400 for a malformed id", () => {
    const caller = { userId: "a", orgs: [42] };
    expect(() => requireOrgAccess(undefined, "42")).toThrow(
      UnauthenticatedError,
    );
    expect(() => requireOrgAccess(caller, "43")).toThrow(PermissionDeniedError);
    expect(() => requireOrgAccess(caller, "x")).toThrow(/orgId/);
    expect(() => requireOrgAccess(caller, "42")).not.toThrow();
    expect(() =>
      requireOrgAccess({ userId: "s", orgs: "all" }, "43"),
    ).not.toThrow();
  });

  it("a domain endpoint that names no org cannot be mounted", () => {
    const unscoped = defineDomain("svc", () => ({
      everything: {
        method: "GET" as const,
        path: "/v1/svc/everything",
        endpoint: "svc.everything",
        handle: async () => ({}),
      },
    }));
    const deps = { router: {} as DatabaseRouter, codec: {} as never };
    expect(() => buildEndpoints(unscoped, deps)).toThrow(
      /svc\.everything.*:orgId/,
    );
  });

  it("an org list is checked entry by entry before the handler runs", async () => {
    let ran = 0;
    const d = defineDomain("svc", () => ({
      totals: {
        method: "GET" as const,
        path: "/v1/svc/totals",
        endpoint: "svc.totals",
        orgQuery: "orgIds",
        handle: async (_input: RouteInput) => ({ ran: ++ran }),
      },
    }));
    const { totals } = buildEndpoints(d, {
      router: {} as DatabaseRouter,
      codec: {} as never,
    });
    const input = (orgIds: string) => ({
      params: {},
      query: { orgIds },
      body: undefined,
      caller: { userId: "a", orgs: [1, 2] },
    });
    await expect(totals.handle(input("1,2"))).resolves.toEqual({ ran: 1 });
    await expect(totals.handle(input("1, 3"))).rejects.toThrow(
      PermissionDeniedError,
    );
    await expect(
      totals.handle({ params: {}, query: { orgIds: "1" }, body: undefined }),
    ).rejects.toThrow(UnauthenticatedError);
    expect(ran).toBe(1);
  });
});

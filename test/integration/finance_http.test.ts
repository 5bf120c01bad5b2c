/**
 * The finance API over HTTP against the real standalone service and the
 * shared primary + 2 streaming replicas: routing headers, read-your-writes
 * tokens, cursor paging, sums and totals, and input validation (400 naming
 * the field, the server keeps serving).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApp, type HttpResult, type TestApp } from "./helpers/app";
import { eventually } from "./helpers/clusters";
import {
  expectError,
  expectInvalid,
  newItem,
  orgIdBlock,
  REPLICA_NAMES,
  TOKEN_PATTERN,
} from "./helpers/http";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

let t: TestApp;
const orgs = orgIdBlock(20);
const org = (i: number) => orgs[i]!;

beforeAll(async () => {
  t = await startTestApp(primaryUrl, replicaUrls, {
    REPLICA_MAX_LAG_SECONDS: "60s",
    // Routing headers are checked read by read: no cache hits here
    // (test/integration/query_cache.test.ts covers the cache).
    CACHE_ENABLED: "false",
  });
});

afterAll(async () => {
  await t?.close();
});

/** POSTs a valid item and checks the write headers; returns the response. */
async function create(
  kind: "revenues" | "expenses",
  orgId: number,
  overrides: Record<string, unknown> = {},
) {
  const res = await t.call(
    "POST",
    `/v1/finance/orgs/${orgId}/${kind}`,
    newItem(overrides),
  );
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res;
}

/** A request that must succeed, proving the server still serves after a bad one. */
async function stillServes(): Promise<void> {
  const res = await t.call(
    "GET",
    `/v1/finance/orgs/${org(0)}/revenues?limit=1`,
  );
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe.each(["revenues", "expenses"] as const)(
  "%s: write then read",
  (kind) => {
    const orgId = kind === "revenues" ? org(1) : org(2);
    const nextStatus = kind === "revenues" ? "received" : "paid";

    it("POST is served by the primary and returns a consistency token", async () => {
      const res = await create(kind, orgId, {
        amountCents: 4200,
        currency: "USD",
        description: "first",
      });
      expect(res.servedBy).toBe("primary");
      expect(res.headers.get("x-consistency-token")).toMatch(TOKEN_PATTERN);
      expect(res.body).toMatchObject({
        id: expect.stringMatching(/^\d+$/),
        orgId,
        amountCents: "4200",
        currency: "USD",
        status: "pending",
        description: "first",
        occurredAt: "2026-11-23T09:00:00.000000Z",
      });
    });

    it("GET /:id returns the row from a replica once replicated", async () => {
      const created = await create(kind, orgId);
      const got = await eventually(async () => {
        const res = await t.call(
          "GET",
          `/v1/finance/orgs/${orgId}/${kind}/${created.body.id}`,
        );
        expect(res.status).toBe(200);
        return res;
      });
      expect(got.body).toEqual(created.body);
      expect(REPLICA_NAMES).toContain(got.servedBy);
    });

    it("GET /:id with the write's token returns the row at once (read-your-writes)", async () => {
      for (let i = 0; i < 10; i++) {
        const created = await create(kind, orgId, { amountCents: i });
        const token = created.headers.get("x-consistency-token")!;
        const got = await t.call(
          "GET",
          `/v1/finance/orgs/${orgId}/${kind}/${created.body.id}`,
          undefined,
          {
            "X-Consistency-Token": token,
          },
        );
        expect(got.status, JSON.stringify(got.body)).toBe(200);
        expect(got.body).toEqual(created.body);
        expect(["primary", ...REPLICA_NAMES]).toContain(got.servedBy);
      }
    });

    it("PATCH .../status updates on the primary; a token read sees the new status", async () => {
      const created = await create(kind, orgId);
      const patched = await t.call(
        "PATCH",
        `/v1/finance/orgs/${orgId}/${kind}/${created.body.id}/status`,
        {
          status: nextStatus,
        },
      );
      expect(patched.status, JSON.stringify(patched.body)).toBe(200);
      expect(patched.servedBy).toBe("primary");
      expect(patched.body).toEqual({ ...created.body, status: nextStatus });
      const token = patched.headers.get("x-consistency-token");
      expect(token).toMatch(TOKEN_PATTERN);
      const got = await t.call(
        "GET",
        `/v1/finance/orgs/${orgId}/${kind}/${created.body.id}`,
        undefined,
        {
          "X-Consistency-Token": token!,
        },
      );
      expect(got.status).toBe(200);
      expect(got.body.status).toBe(nextStatus);
    });

    it("GET and PATCH of an id that does not exist answer 404 not_found", async () => {
      expectError(
        await t.call(
          "GET",
          `/v1/finance/orgs/${orgId}/${kind}/999999999999`,
          undefined,
          { "X-Consistency": "strong" },
        ),
        404,
        "not_found",
      );
      expectError(
        await t.call(
          "PATCH",
          `/v1/finance/orgs/${orgId}/${kind}/999999999999/status`,
          { status: nextStatus },
        ),
        404,
        "not_found",
      );
    });
  },
);

describe("list paging over HTTP", () => {
  it.each(["revenues", "expenses"] as const)(
    "pages 25 %s with limit=10 following nextCursor",
    async (kind) => {
      const orgId = kind === "revenues" ? org(3) : org(4);
      const created: string[] = [];
      let token = "";
      for (let i = 0; i < 25; i++) {
        // Several rows share an occurredAt, so the keyset must break ties by id.
        const res = await create(kind, orgId, {
          amountCents: i,
          occurredAt: `2026-01-0${1 + (i % 3)}T00:00:00Z`,
        });
        created.push(res.body.id);
        token = res.headers.get("x-consistency-token")!;
      }
      const seen: string[] = [];
      const pageSizes: number[] = [];
      let cursor: string | null = null;
      for (let page = 0; page < 10; page++) {
        const q: string =
          cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        // The last write's token covers every earlier write.
        const res: HttpResult = await t.call(
          "GET",
          `/v1/finance/orgs/${orgId}/${kind}?limit=10${q}`,
          undefined,
          {
            "X-Consistency-Token": token,
          },
        );
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        pageSizes.push(res.body.items.length);
        seen.push(...res.body.items.map((item: { id: string }) => item.id));
        cursor = res.body.nextCursor;
        if (cursor === null) break;
      }
      expect(pageSizes).toEqual([10, 10, 5]);
      expect(new Set(seen).size).toBe(25);
      expect([...seen].sort()).toEqual([...created].sort());
    },
  );

  it("a list read without consistency headers is served by a replica", async () => {
    const res = await eventually(async () => {
      const r = await t.call(
        "GET",
        `/v1/finance/orgs/${org(3)}/revenues?limit=5`,
      );
      expect(r.status).toBe(200);
      expect(r.body.items).toHaveLength(5);
      return r;
    });
    expect(REPLICA_NAMES).toContain(res.servedBy);
  });
});

describe("sums and totals", () => {
  it("sums one org's revenues per currency and within a date range", async () => {
    const orgId = org(5);
    let token = "";
    for (const [amountCents, currency, occurredAt] of [
      [100, "EUR", "2025-01-01T00:00:00Z"],
      [250, "EUR", "2025-02-01T00:00:00Z"],
      ["9007199254740993", "EUR", "2025-03-01T00:00:00Z"], // beyond 2^53: travels as a string
      [7, "USD", "2025-03-15T00:00:00Z"],
    ] as const) {
      token = (
        await create("revenues", orgId, { amountCents, currency, occurredAt })
      ).headers.get("x-consistency-token")!;
    }
    const h = { "X-Consistency-Token": token };
    const all = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues/sum`,
      undefined,
      h,
    );
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect(all.body.count).toBe(4);
    expect(all.body.totalCents).toBeNull(); // mixed currencies
    expect(
      [...all.body.currencies].sort(
        (a: { currency: string }, b: { currency: string }) =>
          a.currency.localeCompare(b.currency),
      ),
    ).toEqual([
      { currency: "EUR", totalCents: "9007199254741343", count: 3 },
      { currency: "USD", totalCents: "7", count: 1 },
    ]);

    const feb = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues/sum?from=2025-01-15&to=2025-03-01`,
      undefined,
      h,
    );
    expect(feb.status).toBe(200);
    expect(feb.body).toEqual({
      totalCents: "250",
      count: 1,
      currencies: [{ currency: "EUR", totalCents: "250", count: 1 }],
    });

    const none = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/expenses/sum`,
      undefined,
      h,
    );
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({
      totalCents: "0",
      count: 0,
      currencies: [],
    });
  });

  it("returns totals for several orgs in one request, empty for an org without rows", async () => {
    const [a, b, empty] = [org(6), org(7), org(8)];
    await create("expenses", a, { amountCents: 10, currency: "EUR" });
    await create("expenses", a, { amountCents: 15, currency: "EUR" });
    const last = await create("expenses", b, {
      amountCents: 3,
      currency: "GBP",
    });
    const res = await t.call(
      "GET",
      `/v1/finance/expenses/totals?orgIds=${a},${b},${empty},${a}`,
      undefined,
      {
        "X-Consistency-Token": last.headers.get("x-consistency-token")!,
      },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const byOrg = new Map(
      res.body.totals.map((x: { orgId: number }) => [x.orgId, x]),
    );
    expect(byOrg.get(a)).toEqual({
      orgId: a,
      currencies: [{ currency: "EUR", totalCents: "25", count: 2 }],
    });
    expect(byOrg.get(b)).toEqual({
      orgId: b,
      currencies: [{ currency: "GBP", totalCents: "3", count: 1 }],
    });
    expect(byOrg.get(empty)).toEqual({ orgId: empty, currencies: [] });
    expect(res.body.totals).toHaveLength(3); // the duplicate id collapses

    const revenues = await t.call(
      "GET",
      `/v1/finance/revenues/totals?orgIds=${org(5)}`,
    );
    expect(revenues.status).toBe(200);
    expect(REPLICA_NAMES.concat("primary")).toContain(revenues.servedBy);
  });
});

describe("consistency headers", () => {
  it("X-Consistency: strong is served by the primary", async () => {
    for (let i = 0; i < 4; i++) {
      const res = await t.call(
        "GET",
        `/v1/finance/orgs/${org(3)}/revenues?limit=1`,
        undefined,
        { "X-Consistency": "strong" },
      );
      expect(res.status).toBe(200);
      expect(res.servedBy).toBe("primary");
    }
  });

  it("X-Consistency: bounded=60 is served by a replica", async () => {
    const res = await eventually(async () => {
      const r = await t.call(
        "GET",
        `/v1/finance/orgs/${org(3)}/revenues?limit=1`,
        undefined,
        { "X-Consistency": "bounded=60" },
      );
      expect(r.status).toBe(200);
      expect(REPLICA_NAMES).toContain(r.servedBy);
      return r;
    });
    expect(res.body.items).toHaveLength(1);
  });

  it("X-Consistency: eventual is served by a replica", async () => {
    const res = await t.call(
      "GET",
      `/v1/finance/orgs/${org(3)}/revenues?limit=1`,
      undefined,
      { "X-Consistency": "eventual" },
    );
    expect(res.status).toBe(200);
    expect(REPLICA_NAMES).toContain(res.servedBy);
  });
});

describe("bad input: 400 naming the field, and the server keeps serving", () => {
  const path = () => `/v1/finance/orgs/${org(9)}/revenues`;

  it("non-numeric orgId", async () => {
    expectInvalid(
      await t.call("GET", "/v1/finance/orgs/abc/revenues"),
      "orgId",
    );
    await stillServes();
    expectInvalid(
      await t.call("POST", "/v1/finance/orgs/abc/revenues", newItem()),
      "orgId",
    );
    await stillServes();
    expectInvalid(await t.call("GET", "/v1/finance/orgs/-1/expenses"), "orgId");
    await stillServes();
  });

  it("non-numeric id", async () => {
    expectInvalid(await t.call("GET", `${path()}/1abc`), "id");
    await stillServes();
  });

  it("negative amount", async () => {
    expectInvalid(
      await t.call("POST", path(), newItem({ amountCents: -1 })),
      "amountCents",
    );
    await stillServes();
    expectInvalid(
      await t.call("POST", path(), newItem({ amountCents: "-5" })),
      "amountCents",
    );
    await stillServes();
  });

  it("non-integer amount", async () => {
    expectInvalid(
      await t.call("POST", path(), newItem({ amountCents: 12.5 })),
      "amountCents",
    );
    await stillServes();
    expectInvalid(
      await t.call("POST", path(), newItem({ amountCents: "12.5" })),
      "amountCents",
    );
    await stillServes();
  });

  it("missing required field", async () => {
    expectInvalid(
      await t.call("POST", path(), {
        currency: "EUR",
        occurredAt: "2026-01-01T00:00:00Z",
      }),
      "amountCents",
    );
    await stillServes();
  });

  it("unknown status (create, PATCH and list filter)", async () => {
    expectInvalid(
      await t.call("POST", path(), newItem({ status: "bogus" })),
      "status",
    );
    await stillServes();
    const created = await create("revenues", org(9));
    expectInvalid(
      await t.call("PATCH", `${path()}/${created.body.id}/status`, {
        status: "paid",
      }),
      "status",
    ); // an expense status
    await stillServes();
    expectInvalid(await t.call("GET", `${path()}?status=bogus`), "status");
    await stillServes();
  });

  it("limit=10000 (and other bad limits)", async () => {
    for (const limit of ["10000", "0", "-1", "ten", "1.5"]) {
      expectInvalid(await t.call("GET", `${path()}?limit=${limit}`), "limit");
      await stillServes();
    }
  });

  it("malformed cursor", async () => {
    expectInvalid(
      await t.call("GET", `${path()}?cursor=not-a-cursor`),
      "cursor",
    );
    await stillServes();
    expectInvalid(
      await t.call("GET", `${path()}?cursor=${"a".repeat(600)}`),
      "cursor",
    );
    await stillServes();
  });

  it("tampered cursor (one character changed in the middle)", async () => {
    const orgId = org(3); // has 25+ rows
    const page = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues?limit=2`,
      undefined,
      { "X-Consistency": "strong" },
    );
    expect(page.status).toBe(200);
    const cursor: string = page.body.nextCursor;
    expect(cursor).toEqual(expect.any(String));
    let mid = Math.floor(cursor.length / 2);
    if (cursor[mid] === ".") mid++;
    const tampered =
      cursor.slice(0, mid) +
      (cursor[mid] === "A" ? "B" : "A") +
      cursor.slice(mid + 1);
    expect(tampered).not.toBe(cursor);
    expectInvalid(
      await t.call(
        "GET",
        `/v1/finance/orgs/${orgId}/revenues?limit=2&cursor=${encodeURIComponent(tampered)}`,
      ),
      "cursor",
    );
    await stillServes();
    // The untouched cursor still works, but only for the org and filters it was issued for.
    const next = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues?limit=2&cursor=${encodeURIComponent(cursor)}`,
      undefined,
      {
        "X-Consistency": "strong",
      },
    );
    expect(next.status).toBe(200);
    expectInvalid(
      await t.call(
        "GET",
        `/v1/finance/orgs/${org(4)}/revenues?limit=2&cursor=${encodeURIComponent(cursor)}`,
      ),
      "cursor",
    );
    expectInvalid(
      await t.call(
        "GET",
        `/v1/finance/orgs/${orgId}/expenses?limit=2&cursor=${encodeURIComponent(cursor)}`,
      ),
      "cursor",
    );
    expectInvalid(
      await t.call(
        "GET",
        `/v1/finance/orgs/${orgId}/revenues?limit=2&status=pending&cursor=${encodeURIComponent(cursor)}`,
      ),
      "cursor",
    );
    await stillServes();
  });

  it("malformed JSON body", async () => {
    expectInvalid(await t.call("POST", path(), '{"amountCents":'), "body");
    await stillServes();
    expectInvalid(await t.call("POST", path(), "[1,2,3]"), "body");
    await stillServes();
    expectInvalid(
      await t.call("PATCH", `${path()}/1/status`, "not json"),
      "body",
    );
    await stillServes();
  });

  it("a body over 1 MiB (Content-Length and chunked): a 413 the uploading client reads", async () => {
    const huge = JSON.stringify(
      newItem({ description: "x".repeat(1_100_000) }),
    );
    expect(Buffer.byteLength(huge)).toBeGreaterThan(1024 * 1024);
    // 1) with Content-Length (fetch sets it for a string body).
    const sized = await fetch(t.baseUrl + path(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: huge,
    });
    expectError(
      {
        status: sized.status,
        body: await sized.json(),
        headers: sized.headers,
        servedBy: null,
      },
      413,
      "invalid_argument",
      "body",
    );
    await stillServes();
    // 2) chunked, no Content-Length: the limit is enforced while reading.
    const bytes = new TextEncoder().encode(huge);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 64 * 1024)
          controller.enqueue(bytes.slice(i, i + 64 * 1024));
        controller.close();
      },
    });
    const chunked = await fetch(t.baseUrl + path(), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expectError(
      {
        status: chunked.status,
        body: await chunked.json(),
        headers: chunked.headers,
        servedBy: null,
      },
      413,
      "invalid_argument",
      "body",
    );
    await stillServes();
  });

  it("unknown body field", async () => {
    const msg = expectInvalid(
      await t.call("POST", path(), newItem({ amountCent: 5 })),
      "body",
    );
    expect(msg).toContain("amountCent");
    await stillServes();
    expectInvalid(
      await t.call("PATCH", `${path()}/1/status`, {
        status: "received",
        extra: true,
      }),
      "extra",
    );
    await stillServes();
  });

  it("bad description and currency", async () => {
    expectInvalid(
      await t.call("POST", path(), newItem({ description: "x".repeat(1001) })),
      "description",
    );
    await stillServes();
    expectInvalid(
      await t.call("POST", path(), newItem({ description: "a\u0000b" })),
      "description",
    );
    await stillServes();
    expectInvalid(
      await t.call("POST", path(), newItem({ currency: "eur" })),
      "currency",
    );
    await stillServes();
  });

  it("dates that are not dates", async () => {
    expectInvalid(
      await t.call(
        "POST",
        path(),
        newItem({ occurredAt: "2024-02-30T00:00:00Z" }),
      ),
      "occurredAt",
    );
    await stillServes();
    expectInvalid(
      await t.call(
        "POST",
        path(),
        newItem({ occurredAt: "2024-05-01T12:00:00" }),
      ),
      "occurredAt",
    ); // no zone
    await stillServes();
    expectInvalid(
      await t.call("POST", path(), newItem({ occurredAt: 1714564800000 })),
      "occurredAt",
    );
    await stillServes();
    expectInvalid(await t.call("GET", `${path()}?from=yesterday`), "from");
    await stillServes();
    expectInvalid(await t.call("GET", `${path()}/sum?to=2024-13-01`), "to");
    await stillServes();
    expectInvalid(
      await t.call("GET", `${path()}?from=2025-02-01&to=2025-01-01`),
      "to",
    );
    await stillServes();
  });

  // PRODUCT BUG (backend/shared/http/validation.ts checkInstant: the year range is checked on
  // the instant truncated to milliseconds, `frac.slice(0, 3)`, while the text handed to
  // PostgreSQL keeps all 9 fraction digits and PostgreSQL rounds them to microseconds).
  // "9999-12-31T23:59:59.9999999Z" passes the documented 1000..9999 range check, is stored
  // as 10000-01-01 00:00:00 UTC, comes back as "10000-01-01T00:00:00.000000Z" (not ISO-8601),
  // and a list cursor issued at such a row is refused by the server's own decoder
  // (backend/shared/http/cursor.ts PAYLOAD.t expects a 4-digit year): page 2 answers
  // 400 "cursor: has an unsupported version or content". Fails until the input is
  // rejected (400 naming occurredAt) or stored within range.
  it("an occurredAt that rounds past 9999-12-31 is rejected or kept in range, and paging over it works", async () => {
    const orgId = org(10);
    const first = await t.call(
      "POST",
      `/v1/finance/orgs/${orgId}/revenues`,
      newItem({ occurredAt: "9999-12-31T23:59:59.9999999Z" }),
    );
    if (first.status === 400) {
      expectInvalid(first, "occurredAt");
      await stillServes();
      return;
    }
    expect(first.status).toBe(201);
    await create("revenues", orgId, {
      occurredAt: "9999-12-31T23:59:59.9999999Z",
    });
    // Soft, so the report shows both symptoms: the out-of-range value and the refused cursor.
    expect.soft(first.body.occurredAt).toMatch(/^9999-12-31T23:59:59\.\d{6}Z$/);
    const page1 = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues?limit=1`,
      undefined,
      { "X-Consistency": "strong" },
    );
    expect(page1.status).toBe(200);
    const page2 = await t.call(
      "GET",
      `/v1/finance/orgs/${orgId}/revenues?limit=1&cursor=${encodeURIComponent(page1.body.nextCursor)}`,
      undefined,
      { "X-Consistency": "strong" },
    );
    expect.soft(page2.status, JSON.stringify(page2.body)).toBe(200);
    expect.soft(page2.body.items).toHaveLength(1);
  });

  it("bad totals org list", async () => {
    for (const q of [
      "",
      "?orgIds=",
      "?orgIds=1,abc",
      `?orgIds=${Array.from({ length: 1001 }, (_, i) => i).join(",")}`,
    ]) {
      expectInvalid(
        await t.call("GET", `/v1/finance/revenues/totals${q}`),
        "orgIds",
      );
      await stillServes();
    }
  });

  it("bad X-Consistency header value", async () => {
    for (const value of ["sometimes", "bounded=", "bounded=abc", "STRONGEST"]) {
      expectInvalid(
        await t.call("GET", `${path()}?limit=1`, undefined, {
          "X-Consistency": value,
        }),
        "X-Consistency",
      );
      await stillServes();
    }
  });

  it("malformed X-Consistency-Token", async () => {
    for (const value of [
      "garbage",
      "main:xyz",
      "main:0/4025708/1",
      "0/4025708",
      `main:${"F".repeat(9)}/0`,
    ]) {
      expectInvalid(
        await t.call("GET", `${path()}?limit=1`, undefined, {
          "X-Consistency-Token": value,
        }),
        "X-Consistency-Token",
      );
      await stillServes();
    }
  });
});

describe("routing errors", () => {
  it("unknown route answers 404 not_found", async () => {
    expectError(await t.call("GET", "/v1/finance/nope"), 404, "not_found");
    expectError(await t.call("GET", "/"), 404, "not_found");
    expectError(
      await t.call("POST", "/v1/finance/orgs/1/revenues/1/2/3", {}),
      404,
      "not_found",
    );
    await stillServes();
  });

  it("wrong method on a known path answers 405", async () => {
    const del = await t.call("DELETE", `/v1/finance/orgs/${org(0)}/revenues`);
    expect(del.status).toBe(405);
    expect(del.body).toMatchObject({
      code: expect.any(String),
      message: expect.any(String),
    });
    expect(
      (await t.call("PUT", `/v1/finance/orgs/${org(0)}/revenues/1`, {})).status,
    ).toBe(405);
    expect(
      (await t.call("POST", "/v1/system/database/replicas/status", {})).status,
    ).toBe(405);
    await stillServes();
  });

  // PRODUCT BUG (backend/standalone/http_server.ts, handle(): the "method_not_allowed" branch
  // sends the 405 without an Allow header). RFC 9110 §15.5.6: "The origin server MUST
  // generate an Allow header field in a 405 response containing a list of the target
  // resource's currently supported methods." Fails until the header is sent.
  it("a 405 lists the path's methods in Allow (RFC 9110)", async () => {
    const res = await t.call("DELETE", `/v1/finance/orgs/${org(0)}/revenues`);
    expect(res.status).toBe(405);
    const allow = (res.headers.get("allow") ?? "")
      .split(",")
      .map((m) => m.trim())
      .sort();
    expect(allow).toEqual(["GET", "POST"]);
  });
});

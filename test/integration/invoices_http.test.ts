/**
 * The invoices API over HTTP against the real standalone service and the
 * shared primary + 2 streaming replicas: 201 with a consistency token,
 * read-your-writes, org scoping and cursor paging (bad input:
 * invoices_bad_input.test.ts).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApp, type HttpResult, type TestApp } from "./helpers/app";
import { eventually } from "./helpers/clusters";
import {
  expectError,
  expectInvalid,
  newInvoice,
  newItem,
  orgIdBlock,
  REPLICA_NAMES,
  TOKEN_PATTERN,
} from "./helpers/http";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

let t: TestApp;
const orgs = orgIdBlock(10);
const org = (i: number) => orgs[i]!;
const base = (orgId: number) => `/v1/invoices/orgs/${orgId}/invoices`;

beforeAll(async () => {
  t = await startTestApp(primaryUrl, replicaUrls, {
    REPLICA_MAX_LAG_SECONDS: "60s",
  });
});

afterAll(async () => {
  await t?.close();
});

/** POSTs a valid invoice and expects a 201; returns the response. */
async function create(
  orgId: number,
  overrides: Record<string, unknown> = {},
): Promise<HttpResult> {
  const res = await t.call("POST", base(orgId), newInvoice(overrides));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res;
}

const token = (res: HttpResult) => res.headers.get("x-consistency-token")!;

describe("write then read", () => {
  it("POST answers 201 from the primary with the stored invoice and a consistency token", async () => {
    const res = await create(org(0), { amountCents: "9007199254740993" });
    expect(res.servedBy).toBe("primary");
    expect(token(res)).toMatch(TOKEN_PATTERN);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      orgId: org(0),
      number: 1,
      customer: "ACME GmbH",
      amountCents: "9007199254740993",
      currency: "EUR",
      status: "open",
      // A date alone means midnight UTC.
      issuedAt: "2026-11-23T00:00:00.000000Z",
      createdAt: expect.stringMatching(/Z$/),
    });
    expect((await create(org(0))).body.number).toBe(2);
  });

  it("GET with the write's X-Consistency-Token is never a 404 (read-your-writes)", async () => {
    for (let i = 0; i < 20; i++) {
      const created = await create(org(1), { amountCents: i });
      const got = await t.call(
        "GET",
        `${base(org(1))}/${created.body.id}`,
        undefined,
        { "X-Consistency-Token": token(created) },
      );
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      expect(got.body).toEqual(created.body);
      expect(["primary", ...REPLICA_NAMES]).toContain(got.servedBy);
    }
  });

  it("GET without consistency headers is served by a replica once replicated", async () => {
    const created = await create(org(1));
    await eventually(async () => {
      const got = await t.call("GET", `${base(org(1))}/${created.body.id}`);
      expect(got.status).toBe(200);
      expect(got.body).toEqual(created.body);
      expect(REPLICA_NAMES).toContain(got.servedBy);
    });
  });

  it("an id that does not exist answers 404 not_found", async () => {
    expectError(
      await t.call("GET", `${base(org(1))}/999999999999`, undefined, {
        "X-Consistency": "strong",
      }),
      404,
      "not_found",
    );
  });
});

describe("org scoping", () => {
  it("another org can neither get nor list an org's invoice", async () => {
    const created = await create(org(2));
    const strong = { "X-Consistency": "strong" };
    const mine = await t.call(
      "GET",
      `${base(org(2))}/${created.body.id}`,
      undefined,
      strong,
    );
    expect(mine.status).toBe(200);
    for (const headers of [strong, { "X-Consistency-Token": token(created) }]) {
      expectError(
        await t.call(
          "GET",
          `${base(org(3))}/${created.body.id}`,
          undefined,
          headers,
        ),
        404,
        "not_found",
      );
      const list = await t.call("GET", base(org(3)), undefined, headers);
      expect(list.status).toBe(200);
      expect(list.body).toEqual({ items: [], nextCursor: null });
    }
  });
});

describe("list paging", () => {
  const ids: string[] = [];
  let last: HttpResult;

  beforeAll(async () => {
    for (let i = 0; i < 12; i++) {
      // Several invoices share an issuedAt, so the keyset must break ties by id.
      last = await create(org(4), {
        issuedAt: `2026-02-0${1 + (i % 3)}T12:00:00Z`,
        status: i % 3 === 0 ? "paid" : "open",
      });
      ids.push(last.body.id);
    }
  });

  /** Every page of `query`, following nextCursor; the last write's token covers all. */
  async function pages(
    query: string,
  ): Promise<{ sizes: number[]; seen: any[] }> {
    const sizes: number[] = [];
    const seen: any[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const c: string =
        cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const res: HttpResult = await t.call(
        "GET",
        `${base(org(4))}?${query}${c}`,
        undefined,
        {
          "X-Consistency-Token": token(last),
        },
      );
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      sizes.push(res.body.items.length);
      seen.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === null) break;
    }
    return { sizes, seen };
  }

  it("pages 12 invoices with limit=5, newest first, each exactly once", async () => {
    const { sizes, seen } = await pages("limit=5");
    expect(sizes).toEqual([5, 5, 2]);
    expect(new Set(seen.map((x) => x.id)).size).toBe(12);
    expect(seen.map((x) => x.id).sort()).toEqual([...ids].sort());
    const keys = seen.map((x) => [x.issuedAt, BigInt(x.id)] as const);
    for (let i = 1; i < keys.length; i++) {
      const [a, b] = [keys[i - 1]!, keys[i]!];
      expect(a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])).toBe(true);
    }
  });

  it("a status filter pages too, and its cursor only works with the same filter and org", async () => {
    const { sizes, seen } = await pages("limit=3&status=paid");
    expect(sizes).toEqual([3, 1]);
    expect(seen.every((x) => x.status === "paid")).toBe(true);
    const first = await t.call(
      "GET",
      `${base(org(4))}?limit=1&status=paid`,
      undefined,
      {
        "X-Consistency": "strong",
      },
    );
    const cursor = encodeURIComponent(first.body.nextCursor);
    expect(
      expectInvalid(
        await t.call("GET", `${base(org(4))}?cursor=${cursor}`),
        "cursor",
      ),
    ).toMatch(/other filters \(status\)/);
    expect(
      expectInvalid(
        await t.call("GET", `${base(org(5))}?status=paid&cursor=${cursor}`),
        "cursor",
      ),
    ).toMatch(/another org/);
  });

  it("a finance cursor is refused, and an invoices cursor by finance", async () => {
    await t.call("POST", `/v1/finance/orgs/${org(4)}/revenues`, newItem());
    await t.call("POST", `/v1/finance/orgs/${org(4)}/revenues`, newItem());
    const revenues = await t.call(
      "GET",
      `/v1/finance/orgs/${org(4)}/revenues?limit=1`,
      undefined,
      {
        "X-Consistency": "strong",
      },
    );
    const invoices = await t.call("GET", `${base(org(4))}?limit=1`, undefined, {
      "X-Consistency": "strong",
    });
    const rc = encodeURIComponent(revenues.body.nextCursor);
    const ic = encodeURIComponent(invoices.body.nextCursor);
    expect(
      expectInvalid(
        await t.call("GET", `${base(org(4))}?cursor=${rc}`),
        "cursor",
      ),
    ).toMatch(/issued for revenues, not invoices/);
    expectInvalid(
      await t.call("GET", `/v1/finance/orgs/${org(4)}/revenues?cursor=${ic}`),
      "cursor",
    );
  });
});

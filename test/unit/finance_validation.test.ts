import { beforeEach, describe, expect, it } from "vitest";
import { CursorCodec } from "../../backend/shared/http/cursor";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { financeEndpoints } from "../../backend/finance/finance_handlers";
import type {
  DatabaseRouter,
  ReadConnection,
  WriteConnection,
} from "../../backend/database/router/connections";
import {
  InvalidArgumentError,
  NotFoundError,
} from "../../backend/database/router/base/errors";
import {
  QueryApi,
  type Row,
} from "../../backend/database/router/base/query_api";
import type { RouteDef, RouteInput } from "../../backend/shared/http/route";
import {
  parseDate,
  parseId,
  parseIntParam,
  parseOrgId,
} from "../../backend/shared/http/validation";
import { FinanceRepository } from "../../backend/finance/finance_repository";

/** Records every statement; answers list queries with `limit` rows plus one, others with one row. */
class FakeConnection
  extends QueryApi
  implements ReadConnection, WriteConnection
{
  readonly servedBy = "fake";
  constructor(private readonly log: { sql: string; params: unknown[] }[]) {
    super();
  }
  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    this.log.push({ sql, params });
    if (sql.includes("ORDER BY f.occurred_at, f.id")) {
      const n = params[6] as number;
      return Array.from({ length: n }, (_, i) => row(String(i + 1)));
    }
    if (sql.includes("WHERE org_id = $1 AND id = $2") && params[1] === "404")
      return [];
    if (sql.includes("GROUP BY f.org_id, f.currency")) return [];
    if (sql.includes("GROUP BY f.currency"))
      return [{ currency: "USD", total_cents: "10", count: "1" }];
    return [row("1")];
  }
  async consistencyToken(): Promise<string> {
    return "main:0/0";
  }
}

function row(id: string): Row {
  return {
    id,
    org_id: "7",
    amount_cents: "100",
    currency: "USD",
    status: "pending",
    description: "",
    occurred_at: "2024-05-01T12:00:00.123456Z",
    created_at: "2024-05-01T12:00:00.654321Z",
  };
}

class FakeRouter implements DatabaseRouter {
  readonly log: { sql: string; params: unknown[] }[] = [];
  private readonly conn = new FakeConnection(this.log);
  getReadConnection(): ReadConnection {
    return this.conn;
  }
  getWriteConnection(): WriteConnection {
    return this.conn;
  }
  clusterOf(): { readonly name: string } {
    return { name: "main" };
  }
  cachedRead<T>(
    _spec: unknown,
    fn: (db: ReadConnection) => Promise<T>,
  ): Promise<T> {
    return fn(this.conn);
  }
  transaction<T>(
    _orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    return fn(this.conn);
  }
}

const codec = new CursorCodec("unit-test-secret-0123456789");
let router: FakeRouter;
let routes: Map<string, RouteDef>;

beforeEach(() => {
  router = new FakeRouter();
  routes = new Map(
    Object.values(financeEndpoints(new FinanceRepository(router), codec)).map(
      (r) => [r.endpoint, r],
    ),
  );
});

function call(endpoint: string, input: Partial<RouteInput>): Promise<any> {
  const route = routes.get(endpoint);
  if (route === undefined) throw new Error(`no route ${endpoint}`);
  return route.handle({
    params: input.params ?? {},
    query: input.query ?? {},
    body: input.body,
  });
}

/** Asserts the call fails with a 400 naming `field`, before any SQL ran. */
async function expectInvalid(
  promise: Promise<unknown>,
  field: string,
  message?: RegExp,
): Promise<void> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidArgumentError);
  const e = err as InvalidArgumentError;
  expect(e.code).toBe("invalid_argument");
  expect(e.field).toBe(field);
  expect(e.message.startsWith(`${field}: `)).toBe(true);
  if (message) expect(e.message).toMatch(message);
  expect(router.log).toEqual([]);
}

const validBody = {
  amountCents: 1250,
  currency: "USD",
  occurredAt: "2024-05-01T12:00:00Z",
};
const create = (body: unknown, orgId = "7") =>
  call("finance.createRevenue", { params: { orgId }, body });
const list = (query: Record<string, string>, orgId = "7", kind = "Revenues") =>
  call(`finance.list${kind}`, { params: { orgId }, query });

describe("route table", () => {
  it("has the six endpoints per kind, each path and method once", () => {
    const all = Object.values(
      financeEndpoints(new FinanceRepository(router), codec),
    );
    expect(
      all.map((r) => `${r.method} ${r.path} ${r.endpoint}`).sort(),
    ).toEqual(
      [
        "GET /v1/finance/expenses/totals finance.expenseTotalsByOrg",
        "GET /v1/finance/orgs/:orgId/expenses finance.listExpenses",
        "GET /v1/finance/orgs/:orgId/expenses/:id finance.getExpense",
        "GET /v1/finance/orgs/:orgId/expenses/sum finance.sumExpenses",
        "GET /v1/finance/orgs/:orgId/revenues finance.listRevenues",
        "GET /v1/finance/orgs/:orgId/revenues/:id finance.getRevenue",
        "GET /v1/finance/orgs/:orgId/revenues/sum finance.sumRevenues",
        "GET /v1/finance/revenues/totals finance.revenueTotalsByOrg",
        "PATCH /v1/finance/orgs/:orgId/expenses/:id/status finance.updateExpenseStatus",
        "PATCH /v1/finance/orgs/:orgId/revenues/:id/status finance.updateRevenueStatus",
        "POST /v1/finance/orgs/:orgId/expenses finance.createExpense",
        "POST /v1/finance/orgs/:orgId/revenues finance.createRevenue",
      ].sort(),
    );
    expect(
      all
        .filter((r) => r.successStatus === 201)
        .map((r) => r.endpoint)
        .sort(),
    ).toEqual(["finance.createExpense", "finance.createRevenue"]);
  });
});

describe("path parameters", () => {
  it.each([
    "abc",
    "-1",
    "1.5",
    "1e3",
    "",
    " 7",
    "0x10",
    "99999999999999999",
    "9007199254740992",
  ])("rejects orgId %j", async (orgId) => {
    await expectInvalid(create(validBody, orgId), "orgId");
    await expectInvalid(list({}, orgId), "orgId");
  });

  it("accepts orgId 0 and Number.MAX_SAFE_INTEGER", () => {
    expect(parseOrgId("0")).toBe(0);
    expect(parseOrgId("9007199254740991")).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each([
    "abc",
    "-1",
    "1.0",
    "",
    "99999999999999999999",
    "9223372036854775808",
  ])("rejects id %j", async (id) => {
    await expectInvalid(
      call("finance.getRevenue", { params: { orgId: "7", id } }),
      "id",
    );
    await expectInvalid(
      call("finance.updateRevenueStatus", {
        params: { orgId: "7", id },
        body: { status: "received" },
      }),
      "id",
    );
  });

  it("normalises ids and accepts the largest bigint", () => {
    expect(parseId("007")).toBe("7");
    expect(parseId("9223372036854775807")).toBe("9223372036854775807");
  });

  it("answers a missing row with NotFoundError", async () => {
    await expect(
      call("finance.getRevenue", { params: { orgId: "7", id: "404" } }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("create body", () => {
  it.each([
    [-1],
    [1.5],
    ["abc"],
    ["-5"],
    ["1.5"],
    [""],
    [2 ** 53],
    ["9223372036854775808"],
    ["99999999999999999999"],
    [true],
    [null],
  ])("rejects amountCents %j", async (amountCents) => {
    await expectInvalid(
      create({ ...validBody, amountCents }),
      "amountCents",
      /integer from 0/,
    );
  });

  it("requires amountCents, currency and occurredAt", async () => {
    for (const field of ["amountCents", "currency", "occurredAt"] as const) {
      const body: Record<string, unknown> = { ...validBody };
      delete body[field];
      await expectInvalid(create(body), field, /is required/);
    }
  });

  it.each(["usd", "US", "USDX", "U$D", 840])(
    "rejects currency %j",
    async (currency) => {
      await expectInvalid(create({ ...validBody, currency }), "currency");
    },
  );

  it.each(["paid", "PENDING", "", 1])(
    "rejects revenue status %j",
    async (status) => {
      await expectInvalid(
        create({ ...validBody, status }),
        "status",
        /must be one of pending, received, cancelled/,
      );
    },
  );

  it("checks the status set of the kind", async () => {
    await expectInvalid(
      call("finance.createExpense", {
        params: { orgId: "7" },
        body: { ...validBody, status: "received" },
      }),
      "status",
      /pending, paid, cancelled/,
    );
  });

  it("measures description in characters as PostgreSQL does: 1,001 emoji are refused, 1,000 pass", async () => {
    await expectInvalid(
      create({ ...validBody, description: "\u{1F4B6}".repeat(1001) }),
      "description",
    );
    await expect(
      create({ ...validBody, description: "\u{1F4B6}".repeat(1000) }),
    ).resolves.toBeDefined();
  });

  it.each(["x".repeat(1001), "nul\u0000byte", 5])(
    "rejects description %j",
    async (description) => {
      await expectInvalid(create({ ...validBody, description }), "description");
    },
  );

  it.each([
    "yesterday",
    "2024-02-30T00:00:00Z",
    "2023-02-29T12:00:00Z",
    "2024-05-01T12:00:00",
    "2024-05-01",
    "2024-05-01T24:00:00Z",
    "2024-05-01T12:60:00Z",
    "2024-05-01T12:00:00+15:00",
    "2024-13-01T00:00:00Z",
    "0999-12-31T00:00:00Z",
    "1714564800000",
    1714564800000,
  ])("rejects occurredAt %j", async (occurredAt) => {
    await expectInvalid(create({ ...validBody, occurredAt }), "occurredAt");
  });

  it("names unknown fields", async () => {
    await expectInvalid(
      create({ ...validBody, foo: 1, amount: 2 }),
      "body",
      /unknown field\(s\) "foo", "amount"/,
    );
  });

  it.each([null, [], "text", 42])(
    "rejects a body that is not an object: %j",
    async (body) => {
      await expectInvalid(create(body), "body", /JSON object/);
    },
  );

  it("accepts a valid body, applies defaults and keeps bigint amounts exact", async () => {
    await create({
      ...validBody,
      amountCents: "9223372036854775807",
      occurredAt: "2024-05-01T12:00:00.123456789+05:30",
    });
    const insert = router.log[0]!;
    expect(insert.sql).toMatch(/^INSERT INTO revenues/);
    // Fractions beyond microseconds are truncated to what PostgreSQL stores.
    expect(insert.params).toEqual([
      7,
      "9223372036854775807",
      "USD",
      "pending",
      "",
      "2024-05-01T12:00:00.123456+05:30",
    ]);

    await create({
      ...validBody,
      amountCents: 0,
      status: "received",
      description: "ok",
    });
    expect(router.log[1]!.params.slice(1, 5)).toEqual([
      "0",
      "USD",
      "received",
      "ok",
    ]);
  });

  it("validates the status update body", async () => {
    const patch = (body: unknown) =>
      call("finance.updateRevenueStatus", {
        params: { orgId: "7", id: "1" },
        body,
      });
    await expectInvalid(patch({ status: "done" }), "status");
    await expectInvalid(patch({}), "status", /is required/);
    await expectInvalid(
      patch({ status: "received", note: "x" }),
      "body",
      /"note"/,
    );
    await patch({ status: "cancelled" });
    expect(router.log[0]!.params).toEqual([7, "1", "cancelled"]);
  });
});

describe("list and sum query", () => {
  it.each(["10000", "0", "501", "-1", "1.5", "abc", ""])(
    "rejects limit %j",
    async (limit) => {
      await expectInvalid(
        list({ limit }),
        "limit",
        /must be an integer from 1 to 500/,
      );
    },
  );

  it.each([
    "yesterday",
    "2024-02-30",
    "2023-13-01",
    "2024-05-01T12:00:00",
    "now",
    "",
  ])("rejects from/to %j", async (value) => {
    await expectInvalid(list({ from: value }), "from");
    await expectInvalid(list({ to: value }), "to");
    await expectInvalid(
      call("finance.sumRevenues", {
        params: { orgId: "7" },
        query: { from: value },
      }),
      "from",
    );
  });

  it("rejects a range that ends before it starts", async () => {
    await expectInvalid(list({ from: "2024-05-02", to: "2024-05-01" }), "to");
  });

  it("rejects an unknown status filter", async () => {
    await expectInvalid(list({ status: "paid" }), "status");
    await expectInvalid(
      call("finance.sumExpenses", {
        params: { orgId: "7" },
        query: { status: "received" },
      }),
      "status",
    );
  });

  it("passes valid filters to SQL as canonical timestamptz text", async () => {
    await list({
      from: "2024-02-29",
      to: "2024-03-01T00:00Z",
      status: "received",
      limit: "3",
    });
    expect(router.log[0]!.params).toEqual([
      7,
      "2024-02-29T00:00:00Z",
      "2024-03-01T00:00:00Z",
      "received",
      null,
      null,
      4,
    ]);
  });
});

describe("cursor", () => {
  async function firstCursor(
    query: Record<string, string> = {},
    orgId = "7",
    kind = "Revenues",
  ): Promise<string> {
    const page = await list({ limit: "2", ...query }, orgId, kind);
    expect(page.items).toHaveLength(2);
    expect(typeof page.nextCursor).toBe("string");
    router.log.length = 0;
    return page.nextCursor as string;
  }

  it("round-trips the exact microsecond position", async () => {
    const cursor = await firstCursor();
    await list({ cursor, limit: "2" });
    expect(router.log[0]!.params.slice(4, 6)).toEqual([
      "2024-05-01T12:00:00.123456Z",
      "2",
    ]);
  });

  it("rejects malformed cursors", async () => {
    for (const cursor of [
      "abc",
      "",
      "a.b",
      "x".repeat(600),
      "e30." + "A".repeat(43),
    ]) {
      await expectInvalid(list({ cursor }), "cursor");
    }
  });

  it("rejects a cursor with any one character changed", async () => {
    const cursor = await firstCursor();
    for (let i = 0; i < cursor.length; i++) {
      if (cursor[i] === ".") continue;
      const flipped =
        cursor.slice(0, i) +
        (cursor[i] === "A" ? "B" : "A") +
        cursor.slice(i + 1);
      await expectInvalid(list({ cursor: flipped }), "cursor");
    }
  });

  it("rejects a cursor of another org, kind, filter set or secret", async () => {
    const cursor = await firstCursor();
    await expectInvalid(list({ cursor }, "8"), "cursor", /another org/);
    await expectInvalid(
      list({ cursor }, "7", "Expenses"),
      "cursor",
      /revenues/,
    );
    await expectInvalid(
      list({ cursor, status: "pending" }),
      "cursor",
      /other filters/,
    );
    const other = new Map(
      Object.values(
        financeEndpoints(
          new FinanceRepository(router),
          new CursorCodec("another-secret-0123456789"),
        ),
      ).map((r) => [r.endpoint, r]),
    );
    await expect(
      other
        .get("finance.listRevenues")!
        .handle({ params: { orgId: "7" }, query: { cursor }, body: undefined }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(router.log).toEqual([]);
  });

  it("survives a change of page size", async () => {
    const cursor = await firstCursor({ status: "pending" });
    await list({ cursor, status: "pending", limit: "100" });
    expect(router.log).toHaveLength(1);
  });

  it("refuses a CURSOR_SECRET shorter than 16 characters, at start-up and in the codec", () => {
    expect(() => loadConfig({ CURSOR_SECRET: "short" })).toThrow(
      /CURSOR_SECRET: must be at least 16 characters \(value not shown\)/,
    );
    expect(() => CursorCodec.fromSetting("short")).toThrow(/CURSOR_SECRET/);
    expect(CursorCodec.fromSetting("long-enough-secret!")).toBeInstanceOf(
      CursorCodec,
    );
    expect(CursorCodec.fromSetting(null)).toBeInstanceOf(CursorCodec);
  });
});

describe("totals", () => {
  const totals = (orgIds?: string) =>
    call("finance.revenueTotalsByOrg", {
      query: orgIds === undefined ? {} : { orgIds },
    });

  it.each([undefined, "", "a,b", "1,-2", "1,,2", "1.5", "9007199254740992"])(
    "rejects orgIds %j",
    async (orgIds) => {
      await expectInvalid(totals(orgIds), "orgIds");
    },
  );

  it("rejects more than 1000 ids", async () => {
    const ids = Array.from({ length: 1001 }, (_, i) => i).join(",");
    await expectInvalid(totals(ids), "orgIds");
  });

  it("deduplicates ids and answers every org", async () => {
    const result = await totals("3, 1,3,2");
    expect(result.totals).toEqual([
      { orgId: 3, currencies: [] },
      { orgId: 1, currencies: [] },
      { orgId: 2, currencies: [] },
    ]);
    expect(router.log).toHaveLength(1);
    expect(router.log[0]!.params).toEqual([[3, 1, 2]]);
  });
});

describe("validation helpers", () => {
  it("parses dates and date-times", () => {
    expect(parseDate("from", "2024-02-29").text).toBe("2024-02-29T00:00:00Z");
    expect(parseDate("from", "2024-05-01T12:00Z").text).toBe(
      "2024-05-01T12:00:00Z",
    );
    expect(parseDate("from", "2024-05-01T12:00:00.5-03:00").epochMs).toBe(
      Date.parse("2024-05-01T15:00:00.500Z"),
    );
    expect(() =>
      parseDate("occurredAt", "2024-05-01", { allowDateOnly: false }),
    ).toThrow(/occurredAt: not an ISO-8601/);
  });

  it("bounds integer parameters", () => {
    expect(
      parseIntParam("limit", undefined, { min: 1, max: 500, default: 50 }),
    ).toBe(50);
    expect(parseIntParam("limit", "500", { min: 1, max: 500 })).toBe(500);
    expect(() => parseIntParam("limit", undefined, { min: 1, max: 5 })).toThrow(
      /limit: is required/,
    );
  });
});

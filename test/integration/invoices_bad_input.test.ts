/**
 * Bad input to the invoices API over HTTP (standalone, shared cluster):
 * every bad path parameter, query value, body field or header is a 400
 * `invalid_argument` whose message names the field, and the server keeps
 * serving.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startTestApp, type TestApp } from "./helpers/app";
import { expectInvalid, newInvoice, orgIdBlock } from "./helpers/http";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

let t: TestApp;
const orgId = orgIdBlock(1)[0]!;
const base = `/v1/invoices/orgs/${orgId}/invoices`;

beforeAll(async () => {
  t = await startTestApp(primaryUrl, replicaUrls);
});

afterAll(async () => {
  await t?.close();
});

describe("bad input: 400 naming the field, and the server keeps serving", () => {
  async function stillServes(): Promise<void> {
    const res = await t.call("GET", `${base}?limit=1`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }

  const BAD_BODIES: [field: string, overrides: Record<string, unknown>][] = [
    ["customer", { customer: undefined }],
    ["customer", { customer: "   " }],
    ["customer", { customer: "x".repeat(201) }],
    ["customer", { customer: "\u{1F9FE}".repeat(201) }],
    ["customer", { customer: 42 }],
    ["customer", { customer: "a\u0000b" }],
    ["amountCents", { amountCents: undefined }],
    ["amountCents", { amountCents: -1 }],
    ["amountCents", { amountCents: 1.5 }],
    ["amountCents", { amountCents: "12e3" }],
    ["amountCents", { amountCents: "9223372036854775808" }],
    ["currency", { currency: undefined }],
    ["currency", { currency: "eur" }],
    ["status", { status: "closed" }],
    ["issuedAt", { issuedAt: undefined }],
    ["issuedAt", { issuedAt: "yesterday" }],
    ["issuedAt", { issuedAt: "2026-02-30" }],
    ["issuedAt", { issuedAt: "2026-11-23T09:00:00" }],
    ["body", { number: 7 }],
  ];

  it.each(BAD_BODIES)("create: %s in %j", async (field, overrides) => {
    expectInvalid(await t.call("POST", base, newInvoice(overrides)), field);
    await stillServes();
  });

  it("create: customer is measured in characters as PostgreSQL counts them (an emoji is one)", async () => {
    // 200 emoji are 400 UTF-16 units but 200 characters: within the CHECK.
    const res = await t.call(
      "POST",
      base,
      newInvoice({ customer: "\u{1F9FE}".repeat(200) }),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it("create: a body that is not a JSON object", async () => {
    for (const text of ['{"customer":', "[1,2]", "null"]) {
      expectInvalid(await t.call("POST", base, text), "body");
      await stillServes();
    }
  });

  it("path: orgId and id", async () => {
    expectInvalid(
      await t.call("POST", "/v1/invoices/orgs/abc/invoices", newInvoice()),
      "orgId",
    );
    expectInvalid(
      await t.call("GET", "/v1/invoices/orgs/-1/invoices"),
      "orgId",
    );
    expectInvalid(await t.call("GET", `${base}/1abc`), "id");
    expectInvalid(await t.call("GET", `${base}/99999999999999999999`), "id");
    await stillServes();
  });

  it("list: status, limit and cursor", async () => {
    const cases: [string, string][] = [
      ["status=closed", "status"],
      ["limit=0", "limit"],
      ["limit=501", "limit"],
      ["limit=ten", "limit"],
      ["cursor=garbage", "cursor"],
      [`cursor=${"A".repeat(600)}`, "cursor"],
    ];
    for (const [query, field] of cases) {
      expectInvalid(await t.call("GET", `${base}?${query}`), field);
      await stillServes();
    }
  });

  it("consistency headers", async () => {
    expectInvalid(
      await t.call("GET", `${base}/1`, undefined, {
        "X-Consistency": "sometimes",
      }),
      "X-Consistency",
    );
    expectInvalid(
      await t.call("GET", `${base}/1`, undefined, {
        "X-Consistency-Token": "main:xyz",
      }),
      "X-Consistency-Token",
    );
    await stillServes();
  });
});

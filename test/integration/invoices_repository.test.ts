/**
 * InvoiceRepository over the real ReplicaRouter, against the shared primary
 * + 2 streaming replicas of global_setup.ts: writes in a transaction on the
 * primary with gapless per-org numbers, reads on replicas unless the read
 * (or the request) asks for more, org scoping, and keyset pages. Each test
 * uses its own org ids, so files may run in parallel.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import {
  parseToken,
  STRONG,
} from "../../backend/database/router/consistency/consistency";
import pg from "pg";
import {
  ConnectionCapExceededError,
  InvalidArgumentError,
} from "../../backend/database/router/base/errors";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  runWithRequestContext,
  type RequestContext,
} from "../../backend/database/router/base/request_context";
import { silentLogger } from "../../backend/database/router/support/logger";
import {
  InvoiceRepository,
  type Invoice,
  type NewInvoice,
} from "../../backend/invoices/invoice_repository";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import { FAST_ENV } from "./helpers/app";
import { eventually } from "./helpers/clusters";
import { orgIdBlock, REPLICA_NAMES } from "./helpers/http";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

let router: ReplicaRouter;
let repo: InvoiceRepository;
const orgs = orgIdBlock(13);
const org = (i: number) => orgs[i]!;

beforeAll(async () => {
  await runMigrations(primaryUrl, MIGRATIONS_DIR);
  const config = loadConfig({
    ...FAST_ENV,
    DATABASE_URL: primaryUrl,
    READ_REPLICA_URLS: replicaUrls.join(","),
    REPLICA_MAX_LAG_SECONDS: "60s",
  });
  router = new ReplicaRouter(config.router, { logger: silentLogger });
  await router.start();
  repo = new InvoiceRepository(router);
});

afterAll(async () => {
  await router?.close();
});

const invoice = (overrides: Partial<NewInvoice> = {}): NewInvoice => ({
  customer: "ACME GmbH",
  amountCents: "125000",
  currency: "EUR",
  status: "open",
  issuedAt: "2026-11-23T09:00:00Z",
  ...overrides,
});

/** Runs `fn` as one API request would; returns its result and the request context. */
async function asRequest<T>(
  fn: () => Promise<T>,
  ctx: Partial<RequestContext> = {},
): Promise<{ result: T; ctx: RequestContext }> {
  const full: RequestContext = { servedBy: [], ...ctx };
  const result = await runWithRequestContext(full, fn);
  return { result, ctx: full };
}

describe("create", () => {
  it("runs on the primary, returns the stored row, and marks the request as a write", async () => {
    const { result, ctx } = await asRequest(() =>
      repo.create(
        org(0),
        invoice({ issuedAt: "2026-11-23T10:00:00.123456+01:00" }),
      ),
    );
    expect(result).toEqual({
      id: expect.stringMatching(/^\d+$/),
      orgId: org(0),
      number: 1,
      customer: "ACME GmbH",
      amountCents: "125000",
      currency: "EUR",
      status: "open",
      issuedAt: "2026-11-23T09:00:00.123456Z",
      createdAt: expect.stringMatching(/Z$/),
    });
    expect(ctx.servedBy).toEqual(["primary"]);
    // The front doors mint X-Consistency-Token for the cluster written to.
    expect(ctx.wroteCluster).toBe("main");
  });

  it("numbers each org's invoices 1, 2, 3, ... without gaps, also when created concurrently", async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        repo.create(org(1), invoice({ amountCents: i })),
      ),
    );
    expect(created.map((c) => c.number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect((await repo.create(org(2), invoice())).number).toBe(1);
  });

  it("a failed insert rolls back and uses no number up", async () => {
    expect((await repo.create(org(3), invoice())).number).toBe(1);
    // Past the handler's validation, the table's CHECK still refuses it.
    await expect(
      repo.create(org(3), invoice({ customer: "x".repeat(201) })),
    ).rejects.toThrow();
    expect((await repo.create(org(3), invoice())).number).toBe(2);
  });
});

describe("create under contention for one org's number lock", () => {
  it("waits at most the lock timeout, then refuses with 429 resource_exhausted; no number is used up", async () => {
    const quick = new InvoiceRepository(router, { numberLockTimeoutMs: 150 });
    expect((await quick.create(org(10), invoice())).number).toBe(1);
    // Another session holds org(10)'s number lock, as a long create would.
    const holder = new pg.Client({ connectionString: primaryUrl });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query(
        "SELECT pg_advisory_xact_lock(hashtextextended('invoices.number:' || $1::text, 0))",
        [org(10)],
      );
      const t0 = performance.now();
      const err: unknown = await quick.create(org(10), invoice()).then(
        () => null,
        (e: unknown) => e,
      );
      const waitedMs = performance.now() - t0;
      expect(err).toBeInstanceOf(ConnectionCapExceededError);
      expect((err as ConnectionCapExceededError).code).toBe(
        "resource_exhausted",
      );
      expect(waitedMs).toBeGreaterThanOrEqual(140);
      expect(waitedMs).toBeLessThan(5_000);
      // Other orgs are not held up by it.
      expect((await quick.create(org(11), invoice())).number).toBe(1);
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    expect((await quick.create(org(10), invoice())).number).toBe(2);
  });

  it("numbers stay gapless when the server defaults to REPEATABLE READ", async () => {
    const rrRouter = new ReplicaRouter(
      loadConfig({
        ...FAST_ENV,
        DATABASE_URL: withOptions(
          primaryUrl,
          "-c default_transaction_isolation=repeatable\\ read",
        ),
        READ_REPLICA_URLS: "",
      }).router,
      { logger: silentLogger },
    );
    await rrRouter.start();
    try {
      const rr = new InvoiceRepository(rrRouter);
      const created = await Promise.all(
        Array.from({ length: 10 }, () => rr.create(org(12), invoice())),
      );
      expect(created.map((c) => c.number).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
    } finally {
      await rrRouter.close();
    }
  });
});

/** `url` with libpq `options` (server settings for every connection). */
function withOptions(url: string, options: string): string {
  const u = new URL(url);
  u.searchParams.set("options", options);
  return u.toString();
}

describe("get: consistency per read, org scoping", () => {
  let created: Invoice;

  beforeAll(async () => {
    created = await repo.create(org(4), invoice());
  });

  it("an explicit STRONG read is served by the primary and sees the write at once", async () => {
    const { result, ctx } = await asRequest(() =>
      repo.get(org(4), created.id, STRONG),
    );
    expect(result).toEqual(created);
    expect(ctx.servedBy).toEqual(["primary"]);
  });

  it("a read carrying the write's token never misses it", async () => {
    for (let i = 0; i < 10; i++) {
      const fresh = await repo.create(org(4), invoice({ amountCents: i }));
      const token = await router.tokenAfterWrite("main");
      expect(token).not.toBeNull();
      const { result } = await asRequest(() => repo.get(org(4), fresh.id), {
        consistency: { level: "read_your_writes", token: parseToken(token!) },
      });
      expect(result).toEqual(fresh);
    }
  });

  it("without a level of its own, the read is eventual: a replica serves it once replicated", async () => {
    await eventually(async () => {
      const { result, ctx } = await asRequest(() =>
        repo.get(org(4), created.id),
      );
      expect(result).toEqual(created);
      expect(REPLICA_NAMES).toContain(ctx.servedBy[0]);
    });
  });

  it("another org cannot read it, not even on the primary", async () => {
    expect(await repo.get(org(5), created.id, STRONG)).toBeNull();
    expect(await repo.get(org(5), created.id)).toBeNull();
    const { result } = await asRequest(() => repo.list(org(5), { limit: 10 }), {
      consistency: STRONG,
    });
    expect(result).toEqual({ items: [], nextKey: null });
  });
});

describe("list: keyset pages, newest first", () => {
  const strong = <T>(fn: () => Promise<T>) =>
    asRequest(fn, { consistency: STRONG }).then((r) => r.result);

  it("pages by (issuedAt, id) descending, ties broken by id, without repeats or gaps", async () => {
    const all: Invoice[] = [];
    for (let i = 0; i < 11; i++) {
      // Several invoices share an issuedAt, so the keyset must break ties by id.
      all.push(
        await repo.create(
          org(6),
          invoice({
            issuedAt: `2026-03-0${1 + (i % 3)}T00:00:00Z`,
            status: i % 2 === 0 ? "open" : "paid",
          }),
        ),
      );
    }
    const expected = [...all].sort((a, b) =>
      a.issuedAt !== b.issuedAt
        ? b.issuedAt.localeCompare(a.issuedAt)
        : Number(BigInt(b.id) - BigInt(a.id)),
    );
    const seen: Invoice[] = [];
    const sizes: number[] = [];
    let after: { issuedAt: string; id: string } | undefined;
    for (let page = 0; page < 10; page++) {
      const { items, nextKey } = await strong(() =>
        repo.list(org(6), { limit: 4, ...(after ? { after } : {}) }),
      );
      sizes.push(items.length);
      seen.push(...items);
      if (nextKey === null) break;
      after = nextKey;
    }
    expect(sizes).toEqual([4, 4, 3]);
    expect(seen).toEqual(expected);

    const paid = await strong(() =>
      repo.list(org(6), { limit: 100, status: "paid" }),
    );
    expect(paid.items.map((x) => x.id)).toEqual(
      expected.filter((x) => x.status === "paid").map((x) => x.id),
    );
    expect(paid.nextKey).toBeNull();
  });

  it("refuses a limit outside 1..1000 before any SQL", async () => {
    for (const limit of [0, 1001, 1.5]) {
      await expect(repo.list(org(7), { limit })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
  });
});

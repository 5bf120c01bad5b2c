/**
 * FinanceRepository, the finance handlers and the migration runner against
 * the real primary from global_setup.ts. Routing is not under test here, so
 * the repository runs over PrimaryOnlyRouter (every statement to the primary).
 * Each test uses its own random org ids, so files may run in parallel.
 */
import { randomBytes, randomInt } from "node:crypto";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { DatabaseRouter } from "../../backend/database/router/connections";
import { InvalidArgumentError } from "../../backend/database/router/base/errors";
import { CursorCodec } from "../../backend/shared/http/cursor";
import { financeEndpoints } from "../../backend/finance/finance_handlers";
import type { RouteDef } from "../../backend/shared/http/route";
import {
  FinanceRepository,
  type FinanceItem,
} from "../../backend/finance/finance_repository";
import {
  listMigrations,
  MIGRATIONS_DIR as MIGRATIONS,
  runMigrations,
} from "../../backend/standalone/migrate";
import { sql } from "./helpers/clusters";
import { PrimaryOnlyRouter } from "./helpers/primary_only_router";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const ISO_MICROS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

let router: PrimaryOnlyRouter;
let repo: FinanceRepository;
let routes: Map<string, RouteDef>;

beforeAll(async () => {
  await runMigrations(primaryUrl, MIGRATIONS);
  router = new PrimaryOnlyRouter(primaryUrl, 20);
  repo = new FinanceRepository(router);
  routes = new Map(
    Object.values(financeEndpoints(repo, new CursorCodec(randomBytes(32)))).map(
      (r) => [r.endpoint, r],
    ),
  );
});

afterAll(async () => {
  await router?.close();
});

/** A random org id with room for 1,000 consecutive ids after it. */
function newOrgId(): number {
  return randomInt(1, 2 ** 40) * 1000;
}

function handle(
  endpoint: string,
  input: {
    params?: Record<string, string>;
    query?: Record<string, string>;
    body?: unknown;
  },
) {
  return routes.get(endpoint)!.handle({
    params: input.params ?? {},
    query: input.query ?? {},
    body: input.body,
  }) as Promise<any>;
}

/** Strictly after, in (occurredAt, id) order. Same-format ISO text compares as text. */
function isAfter(a: FinanceItem, b: FinanceItem): boolean {
  return (
    a.occurredAt > b.occurredAt ||
    (a.occurredAt === b.occurredAt && BigInt(a.id) > BigInt(b.id))
  );
}

/**
 * Wraps a router so every statement run through its connections is counted.
 * Property reads pass through, so optional router capabilities stay visible.
 */
function countingRouter(inner: DatabaseRouter): {
  router: DatabaseRouter;
  statements: () => number;
} {
  let statements = 0;
  const methods = new Set([
    "query",
    "queryAll",
    "queryRow",
    "exec",
    "rawQuery",
    "rawQueryAll",
    "rawQueryRow",
    "rawExec",
  ]);
  const wrap = <C extends object>(conn: C): C =>
    new Proxy(conn, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (typeof prop === "string" && methods.has(prop)) {
          return (...args: unknown[]) => {
            statements++;
            return value.apply(target, args);
          };
        }
        return value.bind(target);
      },
    });
  const router = new Proxy(inner, {
    get(target, prop) {
      if (prop === "getReadConnection")
        return (...a: [never]) => wrap(target.getReadConnection(...a));
      if (prop === "getWriteConnection")
        return (...a: [never]) => wrap(target.getWriteConnection(...a));
      if (prop === "cachedRead")
        return (
          spec: Parameters<DatabaseRouter["cachedRead"]>[0],
          fn: (
            db: Parameters<Parameters<DatabaseRouter["cachedRead"]>[1]>[0],
          ) => Promise<never>,
        ) => target.cachedRead(spec, (db) => fn(wrap(db)));
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { router, statements: () => statements };
}

describe("FinanceRepository", () => {
  it("creates, gets, updates the status of and lists a row, scoped by org", async () => {
    const org = newOrgId();
    const created = await repo.create("revenues", org, {
      amountCents: "9007199254740993", // 2^53 + 1: exact only as a string
      currency: "EUR",
      status: "pending",
      description: "Invoice 1",
      occurredAt: "2024-05-01T12:00:00.123456Z",
    });
    expect(created).toMatchObject({
      orgId: org,
      amountCents: "9007199254740993",
      currency: "EUR",
      status: "pending",
      description: "Invoice 1",
      occurredAt: "2024-05-01T12:00:00.123456Z",
    });
    expect(created.id).toMatch(/^\d+$/);
    expect(created.createdAt).toMatch(ISO_MICROS);

    expect(await repo.get("revenues", org, created.id)).toEqual(created);
    expect(await repo.get("revenues", org + 1, created.id)).toBeNull();
    expect(await repo.get("expenses", org, created.id)).toBeNull();

    expect(
      await repo.updateStatus("revenues", org + 1, created.id, "received"),
    ).toBeNull();
    await expect(
      repo.updateStatus("revenues", org, created.id, "paid"),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    const updated = await repo.updateStatus(
      "revenues",
      org,
      created.id,
      "received",
    );
    expect(updated).toEqual({ ...created, status: "received" });

    expect(await repo.list("revenues", org, { limit: 10 })).toEqual({
      items: [updated],
      nextCursorKey: null,
    });
    expect((await repo.list("revenues", org + 1, { limit: 10 })).items).toEqual(
      [],
    );
  });

  it("stores what the handlers accept, in UTC with microseconds", async () => {
    const org = newOrgId();
    const item = await handle("finance.createExpense", {
      params: { orgId: String(org) },
      body: {
        amountCents: 1999,
        currency: "USD",
        occurredAt: "2024-05-01T14:00:00.5+02:00",
      },
    });
    expect(item).toMatchObject({
      status: "pending",
      description: "",
      occurredAt: "2024-05-01T12:00:00.500000Z",
    });
    const patched = await handle("finance.updateExpenseStatus", {
      params: { orgId: String(org), id: item.id },
      body: { status: "paid" },
    });
    expect(patched.status).toBe("paid");
    expect(
      await handle("finance.getExpense", {
        params: { orgId: String(org), id: item.id },
      }),
    ).toEqual(patched);
    await expect(
      handle("finance.getExpense", {
        params: { orgId: String(org + 1), id: item.id },
      }),
    ).rejects.toMatchObject({
      code: "not_found",
    });
  });

  it("walks 10,000 rows with microsecond ties page by page, while rows are inserted, seeing each once", async () => {
    const org = newOrgId();
    // 2,000 distinct instants one microsecond apart, 5 rows each: a Date
    // (milliseconds) cursor would skip or repeat rows here.
    await sql(
      primaryUrl,
      `INSERT INTO revenues (org_id, amount_cents, currency, status, occurred_at)
         SELECT $1, g, 'USD', CASE WHEN g % 3 = 0 THEN 'received' ELSE 'pending' END,
                timestamptz '2024-01-01 00:00:00+00' + (g % 2000) * interval '1 microsecond'
         FROM generate_series(1, 10000) AS g`,
      [org],
    );
    const before = new Set(
      (
        await sql(
          primaryUrl,
          "SELECT id::text AS id FROM revenues WHERE org_id = $1",
          [org],
        )
      ).map((r) => r.id as string),
    );
    expect(before.size).toBe(10_000);

    let stop = false;
    let inserted = 0;
    const writer = async () => {
      while (!stop) {
        const micros = String(randomInt(0, 3000)).padStart(6, "0");
        await repo.create("revenues", org, {
          amountCents: 1,
          currency: "USD",
          status: "pending",
          description: "concurrent",
          occurredAt: `2024-01-01T00:00:00.${micros}Z`,
        });
        inserted++;
      }
    };
    const writers = [writer(), writer(), writer()];

    const seen: FinanceItem[] = [];
    let cursor: string | null = null;
    let pages = 0;
    try {
      do {
        // 333 rows a page: page ends fall inside groups of tied timestamps.
        const page: { items: FinanceItem[]; nextCursor: string | null } =
          await handle("finance.listRevenues", {
            params: { orgId: String(org) },
            query:
              cursor === null ? { limit: "333" } : { limit: "333", cursor },
          });
        seen.push(...page.items);
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null);
    } finally {
      stop = true;
      await Promise.all(writers);
    }

    expect(inserted).toBeGreaterThan(0);
    expect(pages).toBeGreaterThanOrEqual(31);
    const ids = seen.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length); // no id twice
    const seenIds = new Set(ids);
    const missing = [...before].filter((id) => !seenIds.has(id));
    expect(missing).toEqual([]); // no pre-existing row skipped
    for (let i = 1; i < seen.length; i++) {
      if (!isAfter(seen[i]!, seen[i - 1]!))
        throw new Error(`rows ${i - 1} and ${i} are out of order`);
    }

    // A filtered walk returns exactly the matching rows (the writers only add 'pending' rows).
    const from = "2024-01-01T00:00:00.000500Z";
    const to = "2024-01-01T00:00:00.001500Z";
    const filtered: string[] = [];
    cursor = null;
    do {
      const query: Record<string, string> = {
        status: "received",
        from,
        to,
        limit: "97",
      };
      if (cursor !== null) query.cursor = cursor;
      const page: { items: FinanceItem[]; nextCursor: string | null } =
        await handle("finance.listRevenues", {
          params: { orgId: String(org) },
          query,
        });
      filtered.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    const expected = await sql(
      primaryUrl,
      `SELECT r.id::text AS id FROM revenues r
         WHERE org_id = $1 AND status = 'received' AND occurred_at >= $2 AND occurred_at < $3
         ORDER BY r.occurred_at, r.id`,
      [org, from, to],
    );
    expect(filtered).toEqual(expected.map((r) => r.id));
    expect(filtered.length).toBe(1666); // (g % 2000) in 500..1499 and g % 3 = 0
  }, 120_000);

  it("totals 1,000 orgs with ONE statement, matching per-org sums", async () => {
    const base = newOrgId();
    const orgs = Array.from({ length: 1000 }, (_, i) => base + i);
    // 5 rows per org in 3 currencies, ~4e15 cents each (sums pass 2^53);
    // orgs whose offset ends in 7 get no rows.
    await sql(
      primaryUrl,
      `INSERT INTO revenues (org_id, amount_cents, currency, status, occurred_at)
       SELECT $1::bigint + (g % 1000), 4000000000000000 + (g::bigint * 1000003) % 99991,
              (ARRAY['USD', 'EUR', 'JPY'])[1 + g % 3], 'received', now()
       FROM generate_series(1, 5000) AS g
       WHERE (g % 1000) % 10 <> 7`,
      [base],
    );
    const counting = countingRouter(router);
    const totals = await new FinanceRepository(counting.router).totalsByOrg(
      "revenues",
      [...orgs, ...orgs.slice(0, 10)],
    );
    expect(counting.statements()).toBe(1);

    expect(totals.map((t) => t.orgId)).toEqual(orgs);
    for (const t of totals) {
      if ((t.orgId - base) % 10 === 7) expect(t.currencies).toEqual([]);
      else expect(t.currencies.reduce((n, c) => n + c.count, 0)).toBe(5);
    }
    const big = totals.flatMap((t) => t.currencies).find((c) => c.count >= 3);
    expect(
      big === undefined ||
        BigInt(big.totalCents) > BigInt(Number.MAX_SAFE_INTEGER),
    ).toBe(true);

    for (let i = 0; i < orgs.length; i += 50) {
      const batch = orgs.slice(i, i + 50);
      const sums = await Promise.all(
        batch.map((org) => repo.sum("revenues", org)),
      );
      sums.forEach((s, j) =>
        expect(s.currencies).toEqual(totals[i + j]!.currencies),
      );
    }
  });

  it("sums per currency over a half-open date range, with exact bigint totals", async () => {
    const org = newOrgId();
    const add = (
      occurredAt: string,
      amountCents: string | number,
      currency: string,
      status: string,
    ) =>
      repo.create("revenues", org, {
        amountCents,
        currency,
        status,
        description: "",
        occurredAt,
      });
    await add("2024-02-29T23:59:59.999999Z", 500, "USD", "received"); // before `from`
    await add("2024-03-01T00:00:00Z", 100, "USD", "received"); // at `from`: included
    await add("2024-03-15T12:00:00.000001Z", 200, "USD", "pending");
    await add("2024-03-31T23:59:59.999999Z", 300, "USD", "received");
    await add("2024-04-01T00:00:00Z", 400, "USD", "received"); // at `to`: excluded
    await add("2024-03-10T00:00:00Z", "9007199254740993", "EUR", "cancelled");
    await add("2024-03-11T00:00:00Z", "9007199254740993", "EUR", "cancelled");

    const march = { from: "2024-03-01T00:00:00Z", to: "2024-04-01T00:00:00Z" };
    expect(await repo.sum("revenues", org, march)).toEqual({
      totalCents: null, // two currencies
      count: 5,
      currencies: [
        { currency: "EUR", totalCents: "18014398509481986", count: 2 },
        { currency: "USD", totalCents: "600", count: 3 },
      ],
    });
    expect(
      await repo.sum("revenues", org, { ...march, status: "received" }),
    ).toEqual({
      totalCents: "400",
      count: 2,
      currencies: [{ currency: "USD", totalCents: "400", count: 2 }],
    });
    expect((await repo.sum("revenues", org)).count).toBe(7);
    expect(
      await repo.sum("revenues", org, {
        from: new Date("2024-04-01T00:00:00Z"),
      }),
    ).toMatchObject({
      totalCents: "400",
      count: 1,
    });
    // Date-only bounds mean midnight UTC.
    const viaHttp = await handle("finance.sumRevenues", {
      params: { orgId: String(org) },
      query: { from: "2024-03-01", to: "2024-04-01", status: "received" },
    });
    expect(viaHttp).toEqual(
      await repo.sum("revenues", org, { ...march, status: "received" }),
    );
    expect(await repo.sum("expenses", org, march)).toEqual({
      totalCents: "0",
      count: 0,
      currencies: [],
    });
  });
});

describe("runMigrations", () => {
  /** Versions of the app's migrations, in order (1 = finance, 2 = invoices, ...). */
  let versions: number[];
  let latest: string;

  beforeAll(async () => {
    versions = (await listMigrations(MIGRATIONS)).map((m) => m.version);
    latest = String(versions[versions.length - 1]);
  });

  it("is idempotent on the shared primary and keeps Encore's one-row schema_migrations", async () => {
    expect(await runMigrations(primaryUrl, MIGRATIONS)).toEqual({
      applied: [],
    });
    const rows = await sql(
      primaryUrl,
      "SELECT version::text AS version, dirty FROM schema_migrations",
    );
    expect(rows).toEqual([{ version: latest, dirty: false }]);
    const columns = await sql(
      primaryUrl,
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = 'schema_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: "version", data_type: "bigint", is_nullable: "NO" },
      { column_name: "dirty", data_type: "boolean", is_nullable: "NO" },
    ]);
  });

  it("refuses to run on a replica", async () => {
    if (replicaUrls.length === 0) return;
    await expect(runMigrations(replicaUrls[0]!, MIGRATIONS)).rejects.toThrow(
      /replica/,
    );
  });

  it("on a fresh database: applies once under concurrency, rolls back a failed file, refuses dirty", async () => {
    const name = `finance_migrate_${randomBytes(6).toString("hex")}`;
    const url = new URL(primaryUrl);
    url.pathname = `/${name}`;
    const dbUrl = url.toString();
    const dir = await mkdtemp(path.join(tmpdir(), "migrations-"));
    await sql(primaryUrl, `CREATE DATABASE ${name}`);
    try {
      const runs = await Promise.all(
        [1, 2, 3].map(() => runMigrations(dbUrl, MIGRATIONS)),
      );
      expect(runs.flatMap((r) => r.applied)).toEqual(versions);
      expect(await runMigrations(dbUrl, MIGRATIONS)).toEqual({ applied: [] });
      expect(
        await sql(
          dbUrl,
          "SELECT version::text AS version, dirty FROM schema_migrations",
        ),
      ).toEqual([{ version: latest, dirty: false }]);

      // A failing migration leaves neither its effects nor a dirty version
      // behind. The app's files first, then a broken next one.
      for (const m of await listMigrations(MIGRATIONS)) {
        await copyFile(m.path, path.join(dir, path.basename(m.path)));
      }
      const next = Number(latest) + 1;
      await writeFile(
        path.join(dir, `${next}_broken.up.sql`),
        "CREATE TABLE half_done (x int);\nSELECT 1/0;\n",
      );
      await expect(runMigrations(dbUrl, dir)).rejects.toThrow(
        new RegExp(`${next}_broken\\.up\\.sql failed and was rolled back`),
      );
      expect(
        await sql(
          dbUrl,
          "SELECT version::text AS version, dirty FROM schema_migrations",
        ),
      ).toEqual([{ version: latest, dirty: false }]);
      expect(await sql(dbUrl, "SELECT to_regclass('half_done') AS t")).toEqual([
        { t: null },
      ]);

      await writeFile(
        path.join(dir, `${next}_broken.up.sql`),
        "CREATE TABLE half_done (x int);\n",
      );
      expect(await runMigrations(dbUrl, dir)).toEqual({ applied: [next] });

      await writeFile(path.join(dir, "99-bad-name.up.sql"), "SELECT 1;\n");
      await expect(runMigrations(dbUrl, dir)).rejects.toThrow(
        /invalid migration file name 99-bad-name\.up\.sql/,
      );

      // As golang-migrate leaves it after a failure: the runner must not guess.
      await sql(dbUrl, "UPDATE schema_migrations SET dirty = true");
      await expect(runMigrations(dbUrl, MIGRATIONS)).rejects.toThrow(
        new RegExp(`version ${next} is dirty`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
      await sql(primaryUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});

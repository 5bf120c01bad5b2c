/**
 * Scenario 5, query patterns on a replica:
 *   keyset vs OFFSET pagination deep into one org with 1,000,000 revenues;
 *   totals of 100 orgs with FinanceRepository.totalsByOrg (one statement)
 *   vs 100 calls of sum().
 * Everything is read through a ReplicaRouter over both replicas.
 */
import { performance } from "node:perf_hooks";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";
import { FinanceRepository } from "../../backend/finance/finance_repository";
import type { BenchContext, Section, Table } from "./common";
import { fmt, fmtInt, median, rotate } from "./common";
import { readCounts, sqlOnce, startRouter, waitForReplicas } from "./db";

const BIG_ORG = 1_000_000;
const PAGE = 50;

async function timed<T>(
  fn: () => Promise<T>,
): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Scenario entry point. */
export async function queryPatterns(ctx: BenchContext): Promise<Section> {
  const rowsWanted = ctx.quick ? 200_000 : 1_000_000;
  const primary = ctx.cluster.primary.url;
  ctx.log(
    `query patterns: seeding ${fmtInt(rowsWanted)} revenues of org ${BIG_ORG}`,
  );
  const insert = await timed(() =>
    sqlOnce(
      primary,
      `INSERT INTO revenues (org_id, amount_cents, currency, status, description, occurred_at)
       SELECT ${BIG_ORG}, (g::bigint * 7919) % 1000000, 'USD', 'received', 'bulk row ' || g,
              timestamptz '2020-01-01 00:00:00+00' + g * interval '7 seconds'
       FROM generate_series(1, ${rowsWanted}) AS g`,
    ),
  );
  const vacuum = await timed(() => sqlOnce(primary, "VACUUM ANALYZE revenues"));
  const catchUpMs = await waitForReplicas(ctx.cluster, 180_000);

  const router = await startRouter(ctx.cluster, ctx.cluster.replicas, {
    DB_MAX_CONNECTIONS: "10",
  });
  const repo = new FinanceRepository(router);
  const tables: Table[] = [];
  const notes: string[] = [];
  try {
    const before = readCounts(router);
    await pagination(ctx, router, repo, rowsWanted, tables, notes);
    await totals(ctx, repo, tables, notes);
    const after = readCounts(router);
    notes.push(
      `Reads served by replicas in this scenario: ${fmtInt(after.replicas - before.replicas)} of ${fmtInt(after.replicas - before.replicas + after.primary - before.primary)}.`,
      `Seeding: INSERT … SELECT generate_series of ${fmtInt(rowsWanted)} rows ${fmt(insert.ms / 1000, 1)} s, ` +
        `VACUUM ANALYZE ${fmt(vacuum.ms / 1000, 1)} s, replicas caught up ${fmt(catchUpMs / 1000, 1)} s later.`,
    );
  } finally {
    await router.close();
  }
  return {
    id: "query_patterns",
    title: "Query patterns on a replica",
    method: [
      `Pagination: org ${BIG_ORG} holds ${fmtInt(rowsWanted)} revenues; pages of ${PAGE} ordered by (occurred_at, id). ` +
        "Keyset is `FinanceRepository.list` with the cursor of the previous page's last row (fetched beforehand, not timed); " +
        "OFFSET is the same columns and order with `LIMIT 51 OFFSET (page-1)·50` (list also fetches one extra row). " +
        "Both run through the router on a replica, alternating per repetition.",
      "Totals: per-currency totals of orgs 1..100 (~100+ rows each) with `totalsByOrg` (one `org_id = ANY($1)` statement) vs " +
        "100 `sum()` calls one after another, and 100 `sum()` calls at once (`Promise.all`, pool of 10 per node).",
    ],
    tables,
    notes,
  };
}

async function pagination(
  ctx: BenchContext,
  router: ReplicaRouter,
  repo: FinanceRepository,
  rows: number,
  tables: Table[],
  notes: string[],
): Promise<void> {
  const pages = [1, 100, 1_000, 10_000].filter((p) => (p - 1) * PAGE < rows);
  const out: string[][] = [];
  let mismatches = 0;
  for (const page of pages) {
    ctx.log(`query patterns: page ${fmtInt(page)}`);
    const offset = (page - 1) * PAGE;
    const cursor =
      page === 1
        ? undefined
        : (
            await sqlOnce<{ occurred_at: string; id: string }>(
              ctx.cluster.primary.url,
              `SELECT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at, id::text AS id
               FROM revenues WHERE org_id = $1 ORDER BY occurred_at, id OFFSET $2 LIMIT 1`,
              [BIG_ORG, offset - 1],
            )
          )[0];
    const after =
      cursor === undefined
        ? undefined
        : { occurredAt: cursor.occurred_at, id: cursor.id };
    const keyset = async () =>
      (
        await repo.list("revenues", BIG_ORG, {
          limit: PAGE,
          ...(after ? { after } : {}),
        })
      ).items[0]?.id;
    const byOffset = async () => {
      const r = await router.getReadConnection({ orgId: BIG_ORG }).queryAll<{
        id: string;
      }>`SELECT id::text AS id,
          org_id::text AS org_id, amount_cents::text AS amount_cents, currency, status, description,
          to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
          to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at
        FROM revenues f WHERE org_id = ${BIG_ORG} ORDER BY f.occurred_at, f.id LIMIT ${PAGE + 1} OFFSET ${offset}`;
      return r[0]?.id;
    };
    const reps = page >= 10_000 ? (ctx.quick ? 3 : 5) : ctx.quick ? 5 : 15;
    const times = { keyset: [] as number[], offset: [] as number[] };
    await keyset(); // warm the buffer cache of both replicas a little
    await byOffset();
    for (let r = 0; r < reps; r++) {
      for (const which of rotate(["keyset", "offset"] as const, r)) {
        const t = await timed(which === "keyset" ? keyset : byOffset);
        times[which].push(t.ms);
      }
    }
    if ((await keyset()) !== (await byOffset())) mismatches++;
    const k = median(times.keyset);
    const o = median(times.offset);
    out.push([
      fmtInt(page),
      fmtInt(offset),
      String(reps),
      fmt(k, 2),
      fmt(o, 2),
      `${fmt(o / k, 1)}×`,
    ]);
  }
  tables.push({
    title: `Keyset vs OFFSET, page size ${PAGE} (median ms per page)`,
    headers: [
      "page",
      "rows skipped",
      "repetitions",
      "keyset ms",
      "OFFSET ms",
      "OFFSET / keyset",
    ],
    rows: out,
  });
  notes.push(
    mismatches === 0
      ? "Keyset and OFFSET returned the same first row on every page tested."
      : `Keyset and OFFSET disagreed on ${mismatches} page(s): check the cursor format.`,
  );
}

async function totals(
  ctx: BenchContext,
  repo: FinanceRepository,
  tables: Table[],
  notes: string[],
): Promise<void> {
  ctx.log("query patterns: totals of 100 orgs");
  const ids = [...ctx.seed.orgIds];
  const variants: Array<{ name: string; run: () => Promise<number> }> = [
    {
      name: "totalsByOrg (1 statement)",
      run: async () =>
        (await repo.totalsByOrg("revenues", ids)).reduce(
          (n, o) => n + o.currencies.reduce((m, c) => m + c.count, 0),
          0,
        ),
    },
    {
      name: "100 × sum(), sequential",
      run: async () => {
        let n = 0;
        for (const id of ids) n += (await repo.sum("revenues", id)).count;
        return n;
      },
    },
    {
      name: "100 × sum(), Promise.all",
      run: async () =>
        (await Promise.all(ids.map((id) => repo.sum("revenues", id)))).reduce(
          (n, s) => n + s.count,
          0,
        ),
    },
  ];
  const rounds = ctx.quick ? 3 : 9;
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const counts = new Set<number>();
  for (const v of variants) counts.add(await v.run()); // warm-up and correctness
  for (let r = 0; r < rounds; r++) {
    for (const v of rotate(variants, r)) {
      const t = await timed(v.run);
      times.get(v.name)!.push(t.ms);
      counts.add(t.value);
    }
  }
  const base = median(times.get(variants[0]!.name)!);
  tables.push({
    title: `Totals of 100 orgs (${rounds} alternating rounds, median ms)`,
    headers: ["variant", "ms", "vs totalsByOrg"],
    rows: variants.map((v) => {
      const m = median(times.get(v.name)!);
      return [v.name, fmt(m, 2), `${fmt(m / base, 1)}×`];
    }),
  });
  notes.push(
    counts.size === 1
      ? `All three variants counted the same ${fmtInt([...counts][0]!)} rows.`
      : `The variants disagreed on the row count (${[...counts].join(", ")}).`,
  );
}

import type { FinanceKind } from "./finance_repository";

/** Statement texts of one table, built once from a fixed table name (never from input). */
export interface KindSql {
  list: string;
  get: string;
  sum: string;
  create: string;
  updateStatus: string;
  totals: string;
}

// Timestamps leave Postgres as ISO-8601 UTC text with all six fractional
// digits: a JS Date would drop microseconds, and a keyset cursor built from a
// truncated value would skip or repeat rows.
const iso = (col: string) =>
  `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const COLUMNS = `id::text AS id, org_id::text AS org_id, amount_cents::text AS amount_cents,
  currency, status, description, ${iso("occurred_at")} AS occurred_at, ${iso("created_at")} AS created_at`;

// Optional filters are `$n IS NULL OR ...`: pg sends unnamed statements, which
// Postgres plans with the actual values, so absent filters fold away and the
// keyset predicate stays an index condition on (org_id, occurred_at, id).
const FILTERS = `($2::timestamptz IS NULL OR occurred_at >= $2::timestamptz)
  AND ($3::timestamptz IS NULL OR occurred_at < $3::timestamptz)
  AND ($4::text IS NULL OR status = $4::text)`;

// The output columns reuse the input names (`id::text AS id`), and ORDER BY
// prefers output names: ordering is therefore always by the qualified
// table columns (`f.occurred_at, f.id`), never by the text aliases, which
// would sort "10000" before "2000" and break the keyset.
function buildSql(table: string): KindSql {
  return {
    list: `SELECT ${COLUMNS} FROM ${table} f
      WHERE org_id = $1 AND ${FILTERS}
        AND ($5::timestamptz IS NULL OR (f.occurred_at, f.id) > ($5::timestamptz, $6::bigint))
      ORDER BY f.occurred_at, f.id
      LIMIT $7`,
    get: `SELECT ${COLUMNS} FROM ${table} f WHERE org_id = $1 AND id = $2::bigint`,
    sum: `SELECT currency, sum(amount_cents)::text AS total_cents, count(*)::text AS count
      FROM ${table} f WHERE org_id = $1 AND ${FILTERS}
      GROUP BY f.currency ORDER BY f.currency`,
    create: `INSERT INTO ${table} (org_id, amount_cents, currency, status, description, occurred_at)
      VALUES ($1, $2::bigint, $3, $4, $5, $6::timestamptz)
      RETURNING ${COLUMNS}`,
    updateStatus: `UPDATE ${table} SET status = $3 WHERE org_id = $1 AND id = $2::bigint RETURNING ${COLUMNS}`,
    totals: `SELECT org_id::text AS org_id, currency, sum(amount_cents)::text AS total_cents, count(*)::text AS count
      FROM ${table} f WHERE org_id = ANY($1::bigint[])
      GROUP BY f.org_id, f.currency ORDER BY f.org_id, f.currency`,
  };
}

// The only place table names come from.
export const SQL: Readonly<Record<FinanceKind, KindSql>> = Object.freeze({
  revenues: buildSql("revenues"),
  expenses: buildSql("expenses"),
});

import {
  type DatabaseRouter,
  InvalidArgumentError,
  type Primitive,
  type ReadConnection,
  type Row,
} from "../database/router/index";
import { BaseRepository } from "../shared/repositories/base_repository";
import { SQL, type KindSql } from "./finance_sql";

/** The two finance tables; both have the same columns. */
export type FinanceKind = "revenues" | "expenses";

/** Every kind, in a stable order. */
export const FINANCE_KINDS: readonly FinanceKind[] = Object.freeze([
  "revenues",
  "expenses",
]);

/**
 * Allowed `status` values per kind; the migration's CHECK constraints hold
 * the same sets. New rows start as `pending`.
 */
export const FINANCE_STATUSES: Readonly<
  Record<FinanceKind, readonly string[]>
> = Object.freeze({
  revenues: Object.freeze(["pending", "received", "cancelled"]),
  expenses: Object.freeze(["pending", "paid", "cancelled"]),
});

/** A revenue or expense as clients see it. bigint values are decimal strings. */
export interface FinanceItem {
  id: string;
  orgId: number;
  /** Integer minor units (cents), as a decimal string. */
  amountCents: string;
  /** ISO 4217 code, e.g. `USD`. */
  currency: string;
  status: string;
  description: string;
  /** ISO-8601 UTC with microseconds, e.g. `2024-05-01T12:00:00.123456Z` (exactly what Postgres stores). */
  occurredAt: string;
  createdAt: string;
}

/**
 * A timestamp bound: a Date (millisecond precision) or ISO-8601 text that
 * Postgres parses as `timestamptz` (microsecond precision; use this for
 * anything that came from Postgres).
 */
export type TimeBound = Date | string;

/** Filters shared by {@link FinanceRepository.list} and {@link FinanceRepository.sum}. */
export interface FinanceFilter {
  /** Inclusive lower bound on `occurred_at`. */
  readonly from?: TimeBound;
  /** Exclusive upper bound on `occurred_at` (half-open range). */
  readonly to?: TimeBound;
  readonly status?: string;
}

/** Position after which a page starts: the last row of the previous page. */
export interface CursorKey {
  /** The row's `occurredAt` exactly as returned (microseconds). */
  readonly occurredAt: TimeBound;
  readonly id: string;
}

/** Options of {@link FinanceRepository.list}. */
export interface ListOptions extends FinanceFilter {
  /** Page size, 1..1000. */
  readonly limit: number;
  readonly after?: CursorKey;
}

/** One page, oldest first. `nextCursorKey` is null on the last page. */
export interface FinancePage {
  items: FinanceItem[];
  nextCursorKey: { occurredAt: string; id: string } | null;
}

/** Sum for one currency. */
export interface CurrencyTotal {
  currency: string;
  /** Decimal string: sums can exceed 2^53. */
  totalCents: string;
  count: number;
}

/** Result of {@link FinanceRepository.sum}. */
export interface FinanceSum {
  /**
   * Sum over all matching rows when they share one currency ("0" when there
   * are none); null when currencies are mixed, since adding cents of
   * different currencies means nothing. See `currencies` for the breakdown.
   */
  totalCents: string | null;
  count: number;
  currencies: CurrencyTotal[];
}

/** Totals of one org in {@link FinanceRepository.totalsByOrg}. */
export interface OrgTotals {
  orgId: number;
  /** Empty for an org without rows. */
  currencies: CurrencyTotal[];
}

/** Fields of {@link FinanceRepository.create}. */
export interface NewFinanceItem {
  /** Decimal string (or safe integer) within 0..2^63-1. */
  readonly amountCents: string | number;
  readonly currency: string;
  readonly status: string;
  readonly description: string;
  readonly occurredAt: TimeBound;
}

/** At most this many org ids per {@link FinanceRepository.totalsByOrg} call. */
export const MAX_TOTALS_ORGS = 1000;

/** How long an eventual read may reuse a cached sum or totals (writes invalidate sooner). */
const SUM_TTL_MS = 30_000;
/** How long an eventual read may reuse a cached first page. */
const FIRST_PAGE_TTL_MS = 10_000;

/**
 * Revenues and expenses of an org. Every statement is scoped by `org_id`;
 * reads go through `getReadConnection({ orgId })` (a replica when one may
 * serve, per the request's consistency), writes through
 * `getWriteConnection(orgId)`.
 */
export class FinanceRepository extends BaseRepository {
  /** One page of `kind` rows of `orgId`, ordered by `(occurred_at, id)`. */
  async list(
    kind: FinanceKind,
    orgId: number,
    options: ListOptions,
  ): Promise<FinancePage> {
    const sql = sqlOf(kind);
    if (
      !Number.isInteger(options.limit) ||
      options.limit < 1 ||
      options.limit > 1000
    ) {
      throw new InvalidArgumentError(
        "limit",
        "must be an integer from 1 to 1000",
      );
    }
    const status = checkStatus(kind, options.status);
    const after = options.after;
    const page = async (db: ReadConnection): Promise<FinancePage> => {
      // One extra row tells whether another page exists, without a COUNT.
      const rows = await db.rawQueryAll(
        sql.list,
        orgId,
        bound(options.from),
        bound(options.to),
        status,
        bound(after?.occurredAt),
        after === undefined ? null : after.id,
        options.limit + 1,
      );
      const items = rows.slice(0, options.limit).map(toItem);
      const last = items[items.length - 1];
      const nextCursorKey =
        rows.length > options.limit && last !== undefined
          ? { occurredAt: last.occurredAt, id: last.id }
          : null;
      return { items, nextCursorKey };
    };
    if (after !== undefined) return page(this.getReadConnection({ orgId }));
    // First pages are what dashboards open again and again.
    return this.cachedRead(
      {
        namespace: `finance.${kind}.firstPage`,
        key: [bound(options.from), bound(options.to), status, options.limit],
        tables: [kind],
        orgId,
        ttlMs: FIRST_PAGE_TTL_MS,
      },
      page,
    );
  }

  /** The row, or null when it does not exist or belongs to another org. */
  async get(
    kind: FinanceKind,
    orgId: number,
    id: string,
  ): Promise<FinanceItem | null> {
    const row = await this.getReadConnection({ orgId }).rawQueryRow(
      sqlOf(kind).get,
      orgId,
      id,
    );
    return row === null ? null : toItem(row);
  }

  /** Sums of matching rows, per currency. */
  async sum(
    kind: FinanceKind,
    orgId: number,
    filter: FinanceFilter = {},
  ): Promise<FinanceSum> {
    const status = checkStatus(kind, filter.status);
    const params = [bound(filter.from), bound(filter.to), status];
    return this.cachedRead(
      {
        namespace: `finance.${kind}.sum`,
        key: params,
        tables: [kind],
        orgId,
        ttlMs: SUM_TTL_MS,
      },
      async (db): Promise<FinanceSum> => {
        const rows = await db.rawQueryAll(sqlOf(kind).sum, orgId, ...params);
        const currencies = rows.map(toCurrencyTotal);
        const count = currencies.reduce((n, c) => n + c.count, 0);
        const totalCents =
          currencies.length === 0
            ? "0"
            : currencies.length === 1
              ? currencies[0]!.totalCents
              : null;
        return { totalCents, count, currencies };
      },
    );
  }

  /** Inserts a row on the org's primary and returns it as stored. */
  async create(
    kind: FinanceKind,
    orgId: number,
    item: NewFinanceItem,
  ): Promise<FinanceItem> {
    const status = checkStatus(kind, item.status);
    const row = await this.getWriteConnection(orgId).rawQueryRow(
      sqlOf(kind).create,
      orgId,
      String(item.amountCents),
      item.currency,
      status,
      item.description,
      bound(item.occurredAt),
    );
    if (row === null) throw new Error("INSERT ... RETURNING returned no row");
    return toItem(row);
  }

  /** Sets the status; null when the row does not exist or belongs to another org. */
  async updateStatus(
    kind: FinanceKind,
    orgId: number,
    id: string,
    status: string,
  ): Promise<FinanceItem | null> {
    const checked = checkStatus(kind, status);
    const row = await this.getWriteConnection(orgId).rawQueryRow(
      sqlOf(kind).updateStatus,
      orgId,
      id,
      checked,
    );
    return row === null ? null : toItem(row);
  }

  /**
   * Per-currency totals of many orgs with ONE statement per cluster
   * (`org_id = ANY($1::bigint[]) GROUP BY org_id, currency`); with a single
   * cluster that is one statement in all. Ids are deduplicated; the result
   * has one entry per distinct id, in request order, and orgs without rows
   * get an empty `currencies` list.
   *
   * Org-range routing: ids are grouped by the cluster holding them
   * (`router.clusterOf`) and each group is read from its own cluster, in parallel.
   *
   * @throws {InvalidArgumentError} for an empty list, more than
   *   {@link MAX_TOTALS_ORGS} distinct ids, an id that is not a non-negative
   *   safe integer, or one no org range covers.
   */
  async totalsByOrg(
    kind: FinanceKind,
    orgIds: readonly number[],
  ): Promise<OrgTotals[]> {
    const ids = [...new Set(orgIds)];
    if (ids.length === 0 || ids.length > MAX_TOTALS_ORGS) {
      throw new InvalidArgumentError(
        "orgIds",
        `must list 1 to ${MAX_TOTALS_ORGS} distinct org ids`,
      );
    }
    if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
      throw new InvalidArgumentError("orgIds", "must be non-negative integers");
    }
    const sql = sqlOf(kind).totals;
    const groups = groupByCluster(this.router, ids);
    const results = await Promise.all(
      groups.map((group) =>
        this.cachedRead(
          {
            namespace: `finance.${kind}.totals`,
            key: [...group].sort((a, b) => a - b),
            tables: [kind],
            orgId: group[0],
            allOrgs: true,
            ttlMs: SUM_TTL_MS,
          },
          async (db) =>
            (await db.rawQueryAll(sql, group)).map((row) => ({
              orgId: Number(row.org_id),
              total: toCurrencyTotal(row),
            })),
        ),
      ),
    );
    const byOrg = new Map<number, CurrencyTotal[]>(ids.map((id) => [id, []]));
    for (const rows of results) {
      for (const { orgId, total } of rows) byOrg.get(orgId)?.push(total);
    }
    return ids.map((orgId) => ({ orgId, currencies: byOrg.get(orgId) ?? [] }));
  }
}

/** `ids` split by the cluster that holds them. */
function groupByCluster(router: DatabaseRouter, ids: number[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const id of ids) {
    const name = router.clusterOf(id).name;
    const group = groups.get(name);
    if (group === undefined) groups.set(name, [id]);
    else group.push(id);
  }
  return [...groups.values()];
}

function sqlOf(kind: FinanceKind): KindSql {
  // Own-property check: `kind` may come from an untyped caller.
  if (!Object.hasOwn(SQL, kind))
    throw new InvalidArgumentError("kind", "must be revenues or expenses");
  return SQL[kind];
}

/** The status if allowed for `kind`, null when absent. */
function checkStatus(
  kind: FinanceKind,
  status: string | undefined,
): string | null {
  if (status === undefined) return null;
  const allowed = FINANCE_STATUSES[kind];
  if (!allowed.includes(status))
    throw new InvalidArgumentError(
      "status",
      `must be one of ${allowed.join(", ")}`,
    );
  return status;
}

function bound(value: TimeBound | undefined): Primitive {
  return value ?? null;
}

function toItem(row: Row): FinanceItem {
  return {
    id: String(row.id),
    orgId: Number(row.org_id),
    amountCents: String(row.amount_cents),
    currency: String(row.currency),
    status: String(row.status),
    description: String(row.description),
    occurredAt: String(row.occurred_at),
    createdAt: String(row.created_at),
  };
}

function toCurrencyTotal(row: Row): CurrencyTotal {
  return {
    currency: String(row.currency),
    totalCents: String(row.total_cents),
    count: Number(row.count),
  };
}

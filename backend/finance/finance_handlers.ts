import { z } from "zod";
import { InvalidArgumentError, NotFoundError } from "../database/router/index";
import { amountCentsSchema, currencySchema } from "../shared/http/money";
import type { RouteDef, RouteInput } from "../shared/http/route";
import {
  instantSchema,
  parseBody,
  parseDate,
  parseEnum,
  parseId,
  parseIntParam,
  parseOrgId,
  textSchema,
} from "../shared/http/validation";
import {
  FINANCE_STATUSES,
  MAX_TOTALS_ORGS,
  type FinanceFilter,
  type FinanceItem,
  type FinanceKind,
  type FinanceRepository,
  type FinanceSum,
  type OrgTotals,
} from "./finance_repository";
import {
  type CursorCodec,
  DEFAULT_PAGE_SIZE,
  filterHash,
  MAX_PAGE_SIZE,
} from "../shared/http/cursor";

/** Longest `description` (characters). */
export const MAX_DESCRIPTION_LENGTH = 1000;

/** Response of the list endpoints. */
export interface FinanceListResponse {
  items: FinanceItem[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

/** Response of the totals endpoints. */
export interface FinanceTotalsResponse {
  totals: OrgTotals[];
}

/** One kind's six endpoints. */
interface KindEndpoints {
  readonly create: RouteDef<FinanceItem>;
  readonly list: RouteDef<FinanceListResponse>;
  readonly sum: RouteDef<FinanceSum>;
  readonly get: RouteDef<FinanceItem>;
  readonly updateStatus: RouteDef<FinanceItem>;
  readonly totals: RouteDef<FinanceTotalsResponse>;
}

/** The finance endpoints by name; each is `finance.<name>`. */
export type FinanceEndpoints = ReturnType<typeof financeEndpoints>;

/**
 * The finance endpoints (six per kind), served the same way by Encore
 * (`api.ts` calls each handler) and the standalone server (the composition
 * root mounts the domain, backend/finance/domain.ts). Build them once at
 * start-up; handlers allocate nothing per route.
 *
 * Date ranges are half-open: `from` inclusive, `to` exclusive; a date
 * without a time means midnight UTC.
 */
export function financeEndpoints(repo: FinanceRepository, codec: CursorCodec) {
  const revenues = kindEndpoints(repo, codec, "revenues");
  const expenses = kindEndpoints(repo, codec, "expenses");
  return {
    createRevenue: revenues.create,
    listRevenues: revenues.list,
    sumRevenues: revenues.sum,
    getRevenue: revenues.get,
    updateRevenueStatus: revenues.updateStatus,
    revenueTotalsByOrg: revenues.totals,
    createExpense: expenses.create,
    listExpenses: expenses.list,
    sumExpenses: expenses.sum,
    getExpense: expenses.get,
    updateExpenseStatus: expenses.updateStatus,
    expenseTotalsByOrg: expenses.totals,
  } as const;
}

/** Names used in endpoint names and messages, per kind. */
const NAMES: Readonly<
  Record<FinanceKind, { one: string; many: string; noun: string }>
> = {
  revenues: { one: "Revenue", many: "Revenues", noun: "revenue" },
  expenses: { one: "Expense", many: "Expenses", noun: "expense" },
};

function kindEndpoints(
  repo: FinanceRepository,
  codec: CursorCodec,
  kind: FinanceKind,
): KindEndpoints {
  const { one, many, noun } = NAMES[kind];
  const base = `/v1/finance/orgs/:orgId/${kind}`;
  const statuses = FINANCE_STATUSES[kind];
  const createSchema = createBodySchema(statuses);
  const statusSchema = z.strictObject({ status: statusField(statuses) });

  return {
    create: {
      method: "POST",
      path: base,
      endpoint: `finance.create${one}`,
      successStatus: 201,
      async handle({ params, body }): Promise<FinanceItem> {
        const orgId = parseOrgId(params.orgId);
        const fields = parseBody(createSchema, body);
        return repo.create(kind, orgId, {
          ...fields,
          occurredAt: fields.occurredAt.text,
        });
      },
    },
    list: {
      method: "GET",
      path: base,
      endpoint: `finance.list${many}`,
      async handle({ params, query }): Promise<FinanceListResponse> {
        const orgId = parseOrgId(params.orgId);
        const filter = parseFilter(query, statuses);
        const limit = parseIntParam("limit", query.limit, {
          min: 1,
          max: MAX_PAGE_SIZE,
          default: DEFAULT_PAGE_SIZE,
        });
        const scope = { orgId, kind, filterHash: filterHash(filter) };
        const after =
          query.cursor === undefined
            ? undefined
            : codec.decode(query.cursor, scope);
        const page = await repo.list(kind, orgId, { ...filter, limit, after });
        const next = page.nextCursorKey;
        return {
          items: page.items,
          nextCursor: next === null ? null : codec.encode(scope, next),
        };
      },
    },
    sum: {
      method: "GET",
      path: `${base}/sum`,
      endpoint: `finance.sum${many}`,
      async handle({ params, query }): Promise<FinanceSum> {
        const orgId = parseOrgId(params.orgId);
        return repo.sum(kind, orgId, parseFilter(query, statuses));
      },
    },
    get: {
      method: "GET",
      path: `${base}/:id`,
      endpoint: `finance.get${one}`,
      async handle({ params }): Promise<FinanceItem> {
        const orgId = parseOrgId(params.orgId);
        const id = parseId(params.id);
        const item = await repo.get(kind, orgId, id);
        if (item === null) throw new NotFoundError(`${noun} ${id} not found`);
        return item;
      },
    },
    updateStatus: {
      method: "PATCH",
      path: `${base}/:id/status`,
      endpoint: `finance.update${one}Status`,
      async handle({ params, body }): Promise<FinanceItem> {
        const orgId = parseOrgId(params.orgId);
        const id = parseId(params.id);
        const { status } = parseBody(statusSchema, body);
        const item = await repo.updateStatus(kind, orgId, id, status);
        if (item === null) throw new NotFoundError(`${noun} ${id} not found`);
        return item;
      },
    },
    totals: {
      method: "GET",
      path: `/v1/finance/${kind}/totals`,
      endpoint: `finance.${noun}TotalsByOrg`,
      orgQuery: "orgIds",
      async handle({ query }): Promise<FinanceTotalsResponse> {
        return {
          totals: await repo.totalsByOrg(kind, parseOrgIdList(query.orgIds)),
        };
      },
    },
  };
}

/** Filters of a list or sum request, as validated canonical text. */
interface QueryFilter extends FinanceFilter {
  readonly from?: string;
  readonly to?: string;
  readonly status?: string;
}

/** `from`, `to` and `status` of a list or sum request. */
function parseFilter(
  query: RouteInput["query"],
  statuses: readonly string[],
): QueryFilter {
  const from =
    query.from === undefined ? undefined : parseDate("from", query.from);
  const to = query.to === undefined ? undefined : parseDate("to", query.to);
  if (from !== undefined && to !== undefined && to.epochMs < from.epochMs) {
    throw new InvalidArgumentError("to", "must not be before from");
  }
  const status =
    query.status === undefined
      ? undefined
      : parseEnum("status", query.status, statuses);
  return { from: from?.text, to: to?.text, status };
}

/** `orgIds=1,2,3`: 1..1000 distinct non-negative integers (duplicates collapse). */
function parseOrgIdList(value: string | undefined): number[] {
  const usage = `must be a comma-separated list of 1 to ${MAX_TOTALS_ORGS} non-negative integer org ids`;
  // 17 characters per id (16 digits and a comma) bounds the work before splitting.
  if (
    value === undefined ||
    value === "" ||
    value.length > MAX_TOTALS_ORGS * 17
  ) {
    throw new InvalidArgumentError("orgIds", usage);
  }
  const parts = value.split(",");
  if (parts.length > MAX_TOTALS_ORGS)
    throw new InvalidArgumentError("orgIds", usage);
  const ids = parts.map((part) => {
    const text = part.trim();
    const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n))
      throw new InvalidArgumentError("orgIds", usage);
    return n;
  });
  return [...new Set(ids)];
}

const descriptionField = textSchema(MAX_DESCRIPTION_LENGTH).default("");

function statusField(statuses: readonly string[]) {
  const message = `must be one of ${statuses.join(", ")}`;
  return z.enum(statuses as [string, ...string[]], {
    error: (iss) => (iss.input === undefined ? "is required" : message),
  });
}

function createBodySchema(statuses: readonly string[]) {
  return z.strictObject({
    amountCents: amountCentsSchema,
    currency: currencySchema,
    status: statusField(statuses).default("pending"),
    description: descriptionField,
    occurredAt: instantSchema(),
  });
}

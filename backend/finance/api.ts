import { api, type Header, type Query } from "encore.dev/api";
import { router } from "../database/databases";
import { callRoute } from "../database/encore_bridge";
import type { RouteDef } from "../shared/http/route";
import {
  FinanceRepository,
  type CurrencyTotal,
  type FinanceItem,
  type FinanceSum,
  type OrgTotals,
} from "../shared/repositories/finance_repository";
import {
  financeRoutes,
  type FinanceListResponse,
  type FinanceTotalsResponse,
} from "./finance_handlers";

/*
 * Encore front door of the finance endpoints. Each endpoint only forwards to
 * its handler in finance_handlers.ts (shared with the standalone server), so
 * validation, status codes and bodies are the same under both runtimes.
 *
 * Request fields are typed loosely (path ids and numbers as strings) so the
 * handlers' validation, with its field-naming messages, decides what is
 * valid. One difference remains: Encore decodes the body into the declared
 * fields and drops unknown ones, so "unknown field" errors only come from
 * the standalone server.
 */

const routes: ReadonlyMap<string, RouteDef> = new Map(
  financeRoutes(new FinanceRepository(router)).map(
    (r) => [r.endpoint, r] as const,
  ),
);

/** Body and headers of a create request. */
interface CreateRequest {
  orgId: string;
  /** Integer cents: a JSON number up to 2^53-1, or a decimal string up to 2^63-1. */
  amountCents: number | string;
  currency: string;
  /** Default `pending`. */
  status?: string;
  description?: string;
  /** ISO-8601 date-time with a zone. */
  occurredAt: string;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** Query of a list request. */
interface ListRequest {
  orgId: string;
  from?: Query<string>;
  to?: Query<string>;
  status?: Query<string>;
  limit?: Query<string>;
  cursor?: Query<string>;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** Query of a sum request. */
interface SumRequest {
  orgId: string;
  from?: Query<string>;
  to?: Query<string>;
  status?: Query<string>;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** Path of a single-row request. */
interface ItemRequest {
  orgId: string;
  id: string;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** Path and body of a status update. */
interface UpdateStatusRequest {
  orgId: string;
  id: string;
  status: string;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** Query of a totals request. */
interface TotalsRequest {
  /** Comma-separated org ids, 1 to 1000. */
  orgIds: Query<string>;
  consistency?: Header<"X-Consistency">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** One revenue or expense. */
interface ItemResponse {
  id: string;
  orgId: number;
  amountCents: string;
  currency: string;
  status: string;
  description: string;
  occurredAt: string;
  createdAt: string;
  servedBy: Header<"X-Served-By">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** One page. */
interface ListResponse {
  items: FinanceItem[];
  nextCursor: string | null;
  servedBy: Header<"X-Served-By">;
}

/** Sums per currency. */
interface SumResponse {
  totalCents: string | null;
  count: number;
  currencies: CurrencyTotal[];
  servedBy: Header<"X-Served-By">;
}

/** Totals of many orgs. */
interface TotalsResponse {
  totals: OrgTotals[];
  servedBy: Header<"X-Served-By">;
}

export const createRevenue = api(
  { expose: true, method: "POST", path: "/v1/finance/orgs/:orgId/revenues" },
  async (req: CreateRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.createRevenue",
      { params: { orgId: req.orgId }, query: {}, body: createBody(req) },
      req,
    ),
);

export const listRevenues = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/revenues" },
  async (req: ListRequest): Promise<ListResponse> =>
    callRoute<FinanceListResponse>(
      routes,
      "finance.listRevenues",
      { params: { orgId: req.orgId }, query: listQuery(req), body: undefined },
      req,
    ),
);

export const sumRevenues = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/revenues/sum" },
  async (req: SumRequest): Promise<SumResponse> =>
    callRoute<FinanceSum>(
      routes,
      "finance.sumRevenues",
      { params: { orgId: req.orgId }, query: sumQuery(req), body: undefined },
      req,
    ),
);

export const getRevenue = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/revenues/:id" },
  async (req: ItemRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.getRevenue",
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);

export const updateRevenueStatus = api(
  {
    expose: true,
    method: "PATCH",
    path: "/v1/finance/orgs/:orgId/revenues/:id/status",
  },
  async (req: UpdateStatusRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.updateRevenueStatus",
      {
        params: { orgId: req.orgId, id: req.id },
        query: {},
        body: { status: req.status },
      },
      req,
    ),
);

export const revenueTotalsByOrg = api(
  { expose: true, method: "GET", path: "/v1/finance/revenues/totals" },
  async (req: TotalsRequest): Promise<TotalsResponse> =>
    callRoute<FinanceTotalsResponse>(
      routes,
      "finance.revenueTotalsByOrg",
      { params: {}, query: { orgIds: req.orgIds }, body: undefined },
      req,
    ),
);

export const createExpense = api(
  { expose: true, method: "POST", path: "/v1/finance/orgs/:orgId/expenses" },
  async (req: CreateRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.createExpense",
      { params: { orgId: req.orgId }, query: {}, body: createBody(req) },
      req,
    ),
);

export const listExpenses = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/expenses" },
  async (req: ListRequest): Promise<ListResponse> =>
    callRoute<FinanceListResponse>(
      routes,
      "finance.listExpenses",
      { params: { orgId: req.orgId }, query: listQuery(req), body: undefined },
      req,
    ),
);

export const sumExpenses = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/expenses/sum" },
  async (req: SumRequest): Promise<SumResponse> =>
    callRoute<FinanceSum>(
      routes,
      "finance.sumExpenses",
      { params: { orgId: req.orgId }, query: sumQuery(req), body: undefined },
      req,
    ),
);

export const getExpense = api(
  { expose: true, method: "GET", path: "/v1/finance/orgs/:orgId/expenses/:id" },
  async (req: ItemRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.getExpense",
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);

export const updateExpenseStatus = api(
  {
    expose: true,
    method: "PATCH",
    path: "/v1/finance/orgs/:orgId/expenses/:id/status",
  },
  async (req: UpdateStatusRequest): Promise<ItemResponse> =>
    callRoute<FinanceItem>(
      routes,
      "finance.updateExpenseStatus",
      {
        params: { orgId: req.orgId, id: req.id },
        query: {},
        body: { status: req.status },
      },
      req,
    ),
);

export const expenseTotalsByOrg = api(
  { expose: true, method: "GET", path: "/v1/finance/expenses/totals" },
  async (req: TotalsRequest): Promise<TotalsResponse> =>
    callRoute<FinanceTotalsResponse>(
      routes,
      "finance.expenseTotalsByOrg",
      { params: {}, query: { orgIds: req.orgIds }, body: undefined },
      req,
    ),
);

/** The JSON body the handler validates (undefined fields are "absent"). */
function createBody(req: CreateRequest): Record<string, unknown> {
  return {
    amountCents: req.amountCents,
    currency: req.currency,
    status: req.status,
    description: req.description,
    occurredAt: req.occurredAt,
  };
}

function listQuery(req: ListRequest): Record<string, string | undefined> {
  return {
    from: req.from,
    to: req.to,
    status: req.status,
    limit: req.limit,
    cursor: req.cursor,
  };
}

function sumQuery(req: SumRequest): Record<string, string | undefined> {
  return { from: req.from, to: req.to, status: req.status };
}

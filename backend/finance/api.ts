import { api, HttpStatus, type Header, type Query } from "encore.dev/api";
import { call, mount } from "../database/encore/bridge";
import { financeDomain } from "./domain";
import type {
  CurrencyTotal,
  FinanceItem,
  FinanceSum,
  OrgTotals,
} from "./finance_repository";
import type {
  FinanceListResponse,
  FinanceTotalsResponse,
} from "./finance_handlers";

/*
 * Encore front door of the finance endpoints. Each endpoint calls its typed
 * handler from finance_handlers.ts, mounted once on the process's service
 * (the standalone server serves the same handlers: backend/domains.ts), so
 * validation, status codes and bodies are the same under both runtimes.
 *
 * Request fields are typed loosely (path ids and numbers as strings, body
 * fields optional and `unknown`): Encore refuses a missing or mistyped field
 * before the handler runs, with a message that names no field
 * (runtimes/core/src/api/jsonschema/de.rs), so the handlers' validation, with
 * its field-naming messages, decides what is valid. One difference remains:
 * Encore decodes the body into the declared fields and drops unknown ones,
 * so "unknown field" errors only come from the standalone server.
 */

/** Headers every finance endpoint reads, as standalone does. */
interface RouterRequestHeaders {
  /** `strong | eventual | bounded=<seconds>`. */
  consistency?: Header<"X-Consistency">;
  /** The token a write returned: read-your-writes. */
  consistencyToken?: Header<"X-Consistency-Token">;
  /** A request with a body must send JSON (a 400 otherwise; standalone 415). */
  contentType?: Header<"Content-Type">;
}

/** Body and headers of a create request. */
interface CreateRequest extends RouterRequestHeaders {
  orgId: string;
  /** Integer cents (required): a JSON number up to 2^53-1, or a decimal string up to 2^63-1. */
  amountCents?: unknown;
  /** ISO 4217 code (required). */
  currency?: unknown;
  /** Default `pending`. */
  status?: unknown;
  description?: unknown;
  /** ISO-8601 date-time with a zone (required). */
  occurredAt?: unknown;
}

/** Query of a list request. */
interface ListRequest extends RouterRequestHeaders {
  orgId: string;
  from?: Query<string>;
  to?: Query<string>;
  status?: Query<string>;
  limit?: Query<string>;
  cursor?: Query<string>;
}

/** Query of a sum request. */
interface SumRequest extends RouterRequestHeaders {
  orgId: string;
  from?: Query<string>;
  to?: Query<string>;
  status?: Query<string>;
}

/** Path of a single-row request. */
interface ItemRequest extends RouterRequestHeaders {
  orgId: string;
  id: string;
}

/** Path and body of a status update. */
interface UpdateStatusRequest extends RouterRequestHeaders {
  orgId: string;
  id: string;
  /** The new status (required). */
  status?: unknown;
}

/** Query of a totals request. */
interface TotalsRequest extends RouterRequestHeaders {
  /** Comma-separated org ids, 1 to 1000. */
  orgIds?: Query<string>;
}

/** One revenue or expense: the repository's row, plus the routing headers. */
interface ItemResponse extends FinanceItem {
  servedBy: Header<"X-Served-By">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** A created revenue or expense: 201, as standalone. */
interface CreatedResponse extends ItemResponse {
  httpStatus: HttpStatus;
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

/** This service's handlers, built on the process's router. */
const finance = mount(financeDomain);

export const createRevenue = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/finance/orgs/:orgId/revenues",
  },
  async (req: CreateRequest): Promise<CreatedResponse> => ({
    ...(await call(
      finance.createRevenue,
      { params: { orgId: req.orgId }, query: {}, body: createBody(req) },
      req,
    )),
    httpStatus: HttpStatus.Created,
  }),
);

export const listRevenues = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/revenues",
  },
  async (req: ListRequest): Promise<ListResponse> =>
    call(
      finance.listRevenues,
      { params: { orgId: req.orgId }, query: listQuery(req), body: undefined },
      req,
    ),
);

export const sumRevenues = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/revenues/sum",
  },
  async (req: SumRequest): Promise<SumResponse> =>
    call(
      finance.sumRevenues,
      { params: { orgId: req.orgId }, query: sumQuery(req), body: undefined },
      req,
    ),
);

export const getRevenue = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/revenues/:id",
  },
  async (req: ItemRequest): Promise<ItemResponse> =>
    call(
      finance.getRevenue,
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);

export const updateRevenueStatus = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "PATCH",
    bodyLimit: 1048576,
    path: "/v1/finance/orgs/:orgId/revenues/:id/status",
  },
  async (req: UpdateStatusRequest): Promise<ItemResponse> =>
    call(
      finance.updateRevenueStatus,
      {
        params: { orgId: req.orgId, id: req.id },
        query: {},
        body: { status: req.status },
      },
      req,
    ),
);

export const revenueTotalsByOrg = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/revenues/totals",
  },
  async (req: TotalsRequest): Promise<TotalsResponse> =>
    call(
      finance.revenueTotalsByOrg,
      { params: {}, query: { orgIds: req.orgIds }, body: undefined },
      req,
    ),
);

export const createExpense = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/finance/orgs/:orgId/expenses",
  },
  async (req: CreateRequest): Promise<CreatedResponse> => ({
    ...(await call(
      finance.createExpense,
      { params: { orgId: req.orgId }, query: {}, body: createBody(req) },
      req,
    )),
    httpStatus: HttpStatus.Created,
  }),
);

export const listExpenses = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/expenses",
  },
  async (req: ListRequest): Promise<ListResponse> =>
    call(
      finance.listExpenses,
      { params: { orgId: req.orgId }, query: listQuery(req), body: undefined },
      req,
    ),
);

export const sumExpenses = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/expenses/sum",
  },
  async (req: SumRequest): Promise<SumResponse> =>
    call(
      finance.sumExpenses,
      { params: { orgId: req.orgId }, query: sumQuery(req), body: undefined },
      req,
    ),
);

export const getExpense = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/orgs/:orgId/expenses/:id",
  },
  async (req: ItemRequest): Promise<ItemResponse> =>
    call(
      finance.getExpense,
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);

export const updateExpenseStatus = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "PATCH",
    bodyLimit: 1048576,
    path: "/v1/finance/orgs/:orgId/expenses/:id/status",
  },
  async (req: UpdateStatusRequest): Promise<ItemResponse> =>
    call(
      finance.updateExpenseStatus,
      {
        params: { orgId: req.orgId, id: req.id },
        query: {},
        body: { status: req.status },
      },
      req,
    ),
);

export const expenseTotalsByOrg = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/finance/expenses/totals",
  },
  async (req: TotalsRequest): Promise<TotalsResponse> =>
    call(
      finance.expenseTotalsByOrg,
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

import { api, HttpStatus, type Header, type Query } from "encore.dev/api";
import { call, mount } from "../database/encore/bridge";
import { invoicesDomain } from "./domain";
import type { InvoiceListResponse } from "./invoice_handlers";
import type { Invoice } from "./invoice_repository";

/*
 * Encore front door of the invoice endpoints. Each endpoint calls its typed
 * handler from invoice_handlers.ts, mounted once on the process's service
 * (the standalone server serves the same handlers: backend/domains.ts), so
 * validation, status codes and bodies are the same under both runtimes.
 *
 * As in backend/finance/api.ts: options are inline literals (Encore's parser
 * reads them statically); path ids and query values are strings and body
 * fields optional `unknown`, because Encore would refuse a missing or
 * mistyped field before the handler, with a message that names no field.
 */

/** Headers every invoice endpoint reads, as standalone does. */
interface RouterRequestHeaders {
  /** `strong | eventual | bounded=<seconds>`. */
  consistency?: Header<"X-Consistency">;
  /** The token a write returned: read-your-writes. */
  consistencyToken?: Header<"X-Consistency-Token">;
  /** A request with a body must send JSON (a 400 otherwise; standalone 415). */
  contentType?: Header<"Content-Type">;
}

/** Path and body of a create request. */
interface CreateInvoiceRequest extends RouterRequestHeaders {
  orgId: string;
  /** 1..200 characters (required). */
  customer?: unknown;
  /** Integer cents (required): a JSON number up to 2^53-1, or a decimal string up to 2^63-1. */
  amountCents?: unknown;
  /** ISO 4217 code (required). */
  currency?: unknown;
  /** `open` (default), `paid` or `void`. */
  status?: unknown;
  /** ISO-8601 date, or date-time with a zone (required). */
  issuedAt?: unknown;
}

/** Path and query of a list request. */
interface ListInvoicesRequest extends RouterRequestHeaders {
  orgId: string;
  status?: Query<string>;
  limit?: Query<string>;
  cursor?: Query<string>;
}

/** Path of a single-invoice request. */
interface GetInvoiceRequest extends RouterRequestHeaders {
  orgId: string;
  id: string;
}

/** One invoice: the repository's row, plus the routing headers. */
interface InvoiceResponse extends Invoice {
  servedBy: Header<"X-Served-By">;
  consistencyToken?: Header<"X-Consistency-Token">;
}

/** A created invoice: 201, as standalone. */
interface CreatedInvoiceResponse extends InvoiceResponse {
  httpStatus: HttpStatus;
}

/** One page, newest first. */
interface ListInvoicesResponse {
  items: Invoice[];
  nextCursor: string | null;
  servedBy: Header<"X-Served-By">;
}

/** This service's handlers, built on the process's router. */
const invoices = mount(invoicesDomain);

export const createInvoice = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/invoices/orgs/:orgId/invoices",
  },
  async (req: CreateInvoiceRequest): Promise<CreatedInvoiceResponse> => ({
    ...(await call(
      invoices.createInvoice,
      {
        params: { orgId: req.orgId },
        query: {},
        body: {
          customer: req.customer,
          amountCents: req.amountCents,
          currency: req.currency,
          status: req.status,
          issuedAt: req.issuedAt,
        },
      },
      req,
    )),
    httpStatus: HttpStatus.Created,
  }),
);

export const listInvoices = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/invoices/orgs/:orgId/invoices",
  },
  async (req: ListInvoicesRequest): Promise<ListInvoicesResponse> =>
    call(
      invoices.listInvoices,
      {
        params: { orgId: req.orgId },
        query: { status: req.status, limit: req.limit, cursor: req.cursor },
        body: undefined,
      },
      req,
    ),
);

export const getInvoice = api(
  {
    expose: true,
    auth: true,
    sensitive: true,
    method: "GET",
    path: "/v1/invoices/orgs/:orgId/invoices/:id",
  },
  async (req: GetInvoiceRequest): Promise<InvoiceResponse> =>
    call(
      invoices.getInvoice,
      { params: { orgId: req.orgId, id: req.id }, query: {}, body: undefined },
      req,
    ),
);

import { z } from "zod";
import { NotFoundError } from "../database/router/index";
import {
  type CursorCodec,
  type CursorScope,
  DEFAULT_PAGE_SIZE,
  filterHash,
  MAX_PAGE_SIZE,
} from "../shared/http/cursor";
import { amountCentsSchema, currencySchema } from "../shared/http/money";
import type { RouteDef } from "../shared/http/route";
import {
  instantSchema,
  parseBody,
  parseEnum,
  parseId,
  parseIntParam,
  parseOrgId,
  textSchema,
} from "../shared/http/validation";
import {
  INVOICE_STATUSES,
  type Invoice,
  type InvoiceRepository,
} from "./invoice_repository";

/** Longest `customer` (characters); the migration's CHECK holds the same bound. */
export const MAX_CUSTOMER_LENGTH = 200;

/** Response of the list endpoint. */
export interface InvoiceListResponse {
  items: Invoice[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

const BASE = "/v1/invoices/orgs/:orgId/invoices";

/** The invoice endpoints by name; each is `invoices.<name>`. */
export type InvoiceEndpoints = {
  readonly createInvoice: RouteDef<Invoice>;
  readonly listInvoices: RouteDef<InvoiceListResponse>;
  readonly getInvoice: RouteDef<Invoice>;
};

/**
 * The invoice endpoints, served the same way by Encore (`api.ts` calls each
 * handler) and the standalone server (the composition root mounts the
 * domain, backend/invoices/domain.ts). Each handler validates its raw input
 * (a 400 naming the field), calls the repository, and returns the body;
 * the front doors add `X-Served-By` and, after a write,
 * `X-Consistency-Token`.
 */
export function invoiceEndpoints(
  repo: InvoiceRepository,
  codec: CursorCodec,
): InvoiceEndpoints {
  return {
    createInvoice: {
      method: "POST",
      path: BASE,
      endpoint: "invoices.createInvoice",
      successStatus: 201,
      async handle({ params, body }): Promise<Invoice> {
        const orgId = parseOrgId(params.orgId);
        const fields = parseBody(CREATE_BODY, body);
        return repo.create(orgId, {
          ...fields,
          issuedAt: fields.issuedAt.text,
        });
      },
    },
    listInvoices: {
      method: "GET",
      path: BASE,
      endpoint: "invoices.listInvoices",
      async handle({ params, query }): Promise<InvoiceListResponse> {
        const orgId = parseOrgId(params.orgId);
        const status =
          query.status === undefined
            ? undefined
            : parseEnum("status", query.status, INVOICE_STATUSES);
        const limit = parseIntParam("limit", query.limit, {
          min: 1,
          max: MAX_PAGE_SIZE,
          default: DEFAULT_PAGE_SIZE,
        });
        // A cursor only works for the org and filters it was issued for.
        const scope: CursorScope = {
          orgId,
          kind: "invoices",
          filterHash: filterHash({ status }),
          filterNames: "status",
        };
        const position =
          query.cursor === undefined
            ? undefined
            : codec.decode(query.cursor, scope);
        const page = await repo.list(orgId, {
          limit,
          status,
          after:
            position === undefined
              ? undefined
              : { issuedAt: position.occurredAt, id: position.id },
        });
        const next = page.nextKey;
        return {
          items: page.items,
          nextCursor:
            next === null
              ? null
              : codec.encode(scope, { occurredAt: next.issuedAt, id: next.id }),
        };
      },
    },
    getInvoice: {
      method: "GET",
      path: `${BASE}/:id`,
      endpoint: "invoices.getInvoice",
      async handle({ params }): Promise<Invoice> {
        const orgId = parseOrgId(params.orgId);
        const id = parseId(params.id);
        const invoice = await repo.get(orgId, id);
        if (invoice === null)
          throw new NotFoundError(`invoice ${id} not found`);
        return invoice;
      },
    },
  };
}

const customerSchema = z
  .string({
    error: (iss) =>
      iss.input === undefined ? "is required" : "must be a string",
  })
  .trim()
  .min(1, { error: "must not be empty" })
  .pipe(textSchema(MAX_CUSTOMER_LENGTH));

const STATUS_MESSAGE = `must be one of ${INVOICE_STATUSES.join(", ")}`;

/** The create body: unknown fields are a 400 (`z.strictObject`). */
const CREATE_BODY = z.strictObject({
  customer: customerSchema,
  amountCents: amountCentsSchema,
  currency: currencySchema,
  status: z.enum(INVOICE_STATUSES, { error: STATUS_MESSAGE }).default("open"),
  // A date alone means midnight UTC.
  issuedAt: instantSchema({ allowDateOnly: true }),
});

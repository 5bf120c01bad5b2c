import { defineDomain } from "../shared/domain";
import { invoiceEndpoints } from "./invoice_handlers";
import { InvoiceRepository } from "./invoice_repository";

/** The invoices service: its repository on the process's router, and its endpoints. */
export const invoicesDomain = defineDomain("invoices", ({ router, codec }) =>
  invoiceEndpoints(new InvoiceRepository(router), codec),
);

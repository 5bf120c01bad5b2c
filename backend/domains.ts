import type { Domain } from "./shared/domain";
import { financeDomain } from "./finance/domain";
import { invoicesDomain } from "./invoices/domain";

/**
 * The domain services the standalone server mounts, one line each, in the
 * order their routes are matched. Under Encore each service's `api.ts`
 * mounts its own domain (Encore finds the services by their
 * encore.service.ts), so nothing in backend/database/ imports this list.
 */
export const DOMAINS: readonly Domain[] = [
  financeDomain,
  invoicesDomain,
  // A new domain: its import above, and its name here.
];

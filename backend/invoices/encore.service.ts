import { Service } from "encore.dev/service";

/** Encore service "invoices": invoices per org (`api.ts`); see docs/domain-services.md. */
export default new Service("invoices");

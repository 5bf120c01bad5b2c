import { Service } from "encore.dev/service";

/** Encore service "finance": revenues and expenses per org (`api.ts`). */
export default new Service("finance");

import { adminRoutes } from "./database/http/admin_routes";
import type { RouterMetrics } from "./database/metrics/router_metrics";
import { monitoringRoutes } from "./database/http/monitoring_routes";
import { hostHider } from "./database/status/host_hider";
import type { FleetControl } from "./database/control/fleet_control";
import { fleetRoutes } from "./database/http/fleet_routes";
import type { DashboardFeeds } from "./database/dashboard/dashboard_feeds";
import { dashboardRoutes } from "./database/http/dashboard_routes";
import type { Tokens } from "./shared/http/monitoring_auth";
import type { ReplicaRouter } from "./database/router/index";
import { CursorCodec } from "./shared/http/cursor";
import { financeRoutes } from "./finance/finance_handlers";
import { invoiceRoutes } from "./invoices/invoice_handlers";
import { InvoiceRepository } from "./invoices/invoice_repository";
import { HttpResponse, type RouteDef } from "./shared/http/route";
import { FinanceRepository } from "./finance/finance_repository";

/*
 * The one route table of the service. The standalone server serves it as is;
 * the Encore files (backend/finance/api.ts, backend/invoices/api.ts,
 * backend/database/encore/monitoring_api.ts) declare one api() per entry and dispatch
 * to the same handlers by endpoint name. test/integration/contract.test.ts
 * holds the two to the same method, path and success status.
 */

/** What the route table is built from. */
export interface AppParts {
  router: ReplicaRouter;
  metrics: RouterMetrics;
  /** The fleet control plane every admin change goes through. */
  control: FleetControl;
  /** The dashboard's history and events. */
  feeds: DashboardFeeds;
  /** MONITORING_TOKEN and ADMIN_TOKEN, for the dashboard's login; null = not set. */
  tokens: Tokens;
  /** Signs list cursors; default {@link CursorCodec.fromEnv}. */
  codec?: CursorCodec;
}

/** Every route the service serves, in one table (the Encore files declare the same). */
export function allRoutes(parts: AppParts): RouteDef[] {
  const { router, metrics, control } = parts;
  const codec = parts.codec ?? CursorCodec.fromEnv();
  const routes: RouteDef[] = [
    ...monitoringRoutes(router, control),
    ...adminRoutes(router, control, () => endpoints),
    ...fleetRoutes(control, () => hostHider(router)),
    ...dashboardRoutes(parts.feeds, parts.tokens, () => hostHider(router)),
    {
      method: "GET",
      path: "/metrics",
      endpoint: "database.metrics",
      monitoring: true,
      handle: async () => {
        const { contentType, body } = await metrics.render();
        return new HttpResponse(200, body, contentType);
      },
    },
    ...financeRoutes(new FinanceRepository(router), codec),
    ...invoiceRoutes(new InvoiceRepository(router), codec),
  ];
  const endpoints: ReadonlySet<string> = new Set(routes.map((r) => r.endpoint));
  return routes;
}

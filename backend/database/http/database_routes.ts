import type { RouterRoles } from "../router/index";
import type { RouterMetrics } from "../metrics/router_metrics";
import type { FleetControl } from "../control/fleet_control";
import type { DashboardFeeds } from "../dashboard/dashboard_feeds";
import { hostHider } from "../status/host_hider";
import type { Tokens } from "../../shared/http/monitoring_auth";
import type { LoginThrottle } from "../../shared/http/login_guard";
import { HttpResponse, type RouteDef } from "../../shared/http/route";
import { adminRoutes, type KnownEndpoints } from "./admin_routes";
import { dashboardRoutes } from "./dashboard_routes";
import { fleetRoutes } from "./fleet_routes";
import { monitoringRoutes } from "./monitoring_routes";
import { keyRoutes } from "./key_routes";
import type { ApiKeyStore } from "../../shared/auth/key_store";

/** What the database service's own routes are built from. */
export interface DatabaseParts {
  router: RouterRoles;
  metrics: RouterMetrics;
  /** The fleet control plane every admin change goes through. */
  control: FleetControl;
  /** The dashboard's history and events. */
  feeds: DashboardFeeds;
  /** MONITORING_TOKEN and ADMIN_TOKEN (null = not set) and SESSION_SECRET, for the dashboard's login. */
  tokens: Tokens;
  /** Failed dashboard logins, per address. */
  logins: LoginThrottle;
  /** API keys of the domain endpoints (issued and revoked by admin routes). */
  keys: ApiKeyStore;
}

/**
 * The database service's routes: monitoring, admin (API keys included),
 * fleet, dashboard and `/metrics`. The Encore files database/encore/monitoring_api.ts and
 * admin_api.ts declare one `api()` per entry.
 *
 * @param knownEndpoints the endpoints this process serves, so a typo in a
 *   per-endpoint switch is a 404 (see {@link KnownEndpoints}).
 */
export function databaseRoutes(
  parts: DatabaseParts,
  knownEndpoints: KnownEndpoints,
): RouteDef[] {
  const { router, metrics, control } = parts;
  return [
    ...monitoringRoutes(router, control),
    ...adminRoutes(router, control, knownEndpoints),
    ...keyRoutes(parts.keys),
    ...fleetRoutes(control, () => hostHider(router)),
    ...dashboardRoutes(parts.feeds, parts.tokens, parts.logins, () =>
      hostHider(router),
    ),
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
  ];
}

import type { RouterStatusView } from "../router/index";
import type { ControlStatus } from "../control/fleet_view";
import { HttpResponse, type RouteDef } from "../../shared/http/route";
import {
  poolStats,
  replicaHealth,
  replicaLag,
  replicaStatus,
} from "../status/router_status";

/**
 * The read-only monitoring routes. They never show credentials; node
 * addresses only to callers holding the admin or monitoring token. With
 * MONITORING_TOKEN set, all but health need it (`monitoring: true`).
 */
export function monitoringRoutes(
  router: RouterStatusView,
  control?: { status(): ControlStatus },
): RouteDef[] {
  return [
    {
      method: "GET",
      path: "/v1/system/database/replicas/status",
      endpoint: "database.replicaStatus",
      monitoring: true,
      handle: async ({ privileged }) =>
        replicaStatus(router, control, { addresses: privileged === true }),
    },
    {
      method: "GET",
      path: "/v1/system/database/replicas/health",
      endpoint: "database.replicaHealth",
      handle: async () => {
        const body = replicaHealth(router);
        return body.healthy ? body : new HttpResponse(503, body);
      },
    },
    {
      method: "GET",
      path: "/v1/system/database/replicas/lag",
      endpoint: "database.replicaLag",
      monitoring: true,
      handle: async () => replicaLag(router),
    },
    {
      method: "GET",
      path: "/v1/system/database/connection-pool/stats",
      endpoint: "database.poolStats",
      monitoring: true,
      handle: async () => poolStats(router),
    },
  ];
}

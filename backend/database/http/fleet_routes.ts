import { publicError, publicInstanceId } from "../status/public_error";
import { InvalidArgumentError } from "../router/index";
import type { FleetControl } from "../control/fleet_control";
import type { AuditEntry } from "../control/control_store";
import type { FleetViewResponse } from "../control/fleet_view";
import type { RouteDef } from "../../shared/http/route";

/** Body of GET /v1/system/database/replicas/admin/audit. */
export interface AuditResponse {
  /** Newest first. */
  entries: AuditEntry[];
}

/**
 * The fleet view (a monitoring route, like the status endpoint: instance
 * ids, replica names and states, no addresses) and the audit trail of admin changes
 * (admin token).
 */
export function fleetRoutes(
  control: FleetControl,
  /** Hides node addresses in texts from callers without a token (built per request: nodes change). */
  hiderFor: () => (text: string) => string,
): RouteDef[] {
  return [
    {
      method: "GET",
      path: "/v1/system/database/replicas/fleet",
      endpoint: "database.fleet",
      monitoring: true,
      handle: async ({ privileged }) =>
        fleetViewFor(control, privileged === true, hiderFor()),
    },
    {
      method: "GET",
      path: "/v1/system/database/replicas/admin/audit",
      endpoint: "database.adminAudit",
      admin: true,
      handle: async ({ query }): Promise<AuditResponse> => ({
        entries: await control.audit(parseLimit(query.limit)),
      }),
    },
  ];
}

/** `?limit=` of the audit trail: 1 to 500, default 50. */
function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return 50;
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= 500))
    throw new InvalidArgumentError("limit", "an integer from 1 to 500");
  return n;
}

/** The fleet view as a caller may see it: without a token, pending errors as their kind and instance ids as pseudonyms (no host name). */
export async function fleetViewFor(
  control: FleetControl,
  privileged: boolean,
  hideHosts: (text: string) => string,
): Promise<FleetViewResponse> {
  const view = await control.fleetView();
  if (privileged) return view;
  const id = publicInstanceId;
  return {
    ...view,
    self: id(view.self),
    instances: view.instances.map((i) => ({
      ...i,
      instanceId: id(i.instanceId),
      pending: i.pending.map((p) => ({
        ...p,
        error: publicError(p.error, hideHosts),
      })),
    })),
    replicas: view.replicas.map((r) => ({
      ...r,
      servingOn: r.servingOn.map(id),
      notServingOn: r.notServingOn.map((n) => ({
        ...n,
        instanceId: id(n.instanceId),
      })),
      missingOn: r.missingOn.map(id),
    })),
  };
}

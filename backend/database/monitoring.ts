/**
 * Encore edge: the monitoring, admin and metrics endpoints of the database
 * service. Each only calls the shared handler. Admin endpoints check the
 * bearer token themselves ({@link requireAdmin}), so no auth handler can
 * turn a public request into an error; they are `sensitive: true` because
 * they receive the token (and addReplica a connection string), which
 * Encore's traces must never record.
 */
import { api, HttpStatus, type Header, type Query } from "encore.dev/api";
import { control, metrics, router, routerReady, routes } from "./databases";
import { requireAdmin, toAPIError } from "./encore_bridge";
import type { RouteInput } from "../shared/http/route";
import { parseActorHeader } from "../shared/http/validation";
import type { FleetViewResponse } from "./fleet/fleet_view";
import type { AuditResponse } from "./fleet_handlers";
import {
  poolStats,
  replicaHealth,
  replicaLag,
  replicaStatus,
  type PoolStatsResponse,
  type ReplicaHealthResponse,
  type ReplicaLagResponse,
  type ReplicaStatusResponse,
} from "./monitoring_handlers";

/** Checks the admin token, then runs the shared admin handler of `endpoint`. */
async function runAdmin<T>(
  endpoint: string,
  auth: AdminAuth,
  input: RouteInput,
): Promise<T> {
  requireAdmin(auth.authorization);
  await routerReady;
  try {
    const actor = parseActorHeader(auth.actor);
    return (await routes
      .get(endpoint)!
      .handle(actor !== undefined ? { ...input, actor } : input)) as T;
  } catch (err) {
    throw toAPIError(err);
  }
}

export const status = api(
  { expose: true, method: "GET", path: "/v1/system/database/replicas/status" },
  async (): Promise<ReplicaStatusResponse> => {
    await routerReady;
    return replicaStatus(router, control);
  },
);

// Raw, so a 503 carries the same body as a 200 (as the standalone server
// sends it); a thrown APIError would wrap it in { code, message, details }.
export const health = api.raw(
  { expose: true, method: "GET", path: "/v1/system/database/replicas/health" },
  async (_req, resp) => {
    await routerReady;
    const body: ReplicaHealthResponse = replicaHealth(router);
    resp.writeHead(body.healthy ? 200 : 503, {
      "Content-Type": "application/json",
    });
    resp.end(JSON.stringify(body));
  },
);

export const lag = api(
  { expose: true, method: "GET", path: "/v1/system/database/replicas/lag" },
  async (): Promise<ReplicaLagResponse> => replicaLag(router),
);

export const pools = api(
  {
    expose: true,
    method: "GET",
    path: "/v1/system/database/connection-pool/stats",
  },
  async (): Promise<PoolStatsResponse> => poolStats(router),
);

export const fleet = api(
  { expose: true, method: "GET", path: "/v1/system/database/replicas/fleet" },
  async (): Promise<FleetViewResponse> => {
    await routerReady;
    try {
      return await control.fleetView();
    } catch (err) {
      throw toAPIError(err);
    }
  },
);

export const prometheus = api.raw(
  { expose: true, method: "GET", path: "/metrics" },
  async (_req, resp) => {
    const { contentType, body } = await metrics.render();
    resp.writeHead(200, { "Content-Type": contentType });
    resp.end(body);
  },
);

/** The admin bearer token, checked by the endpoint itself. */
interface AdminAuth {
  authorization?: Header<"Authorization">;
  /** Who is acting, for the audit trail (checked by the shared handler). */
  actor?: Header<"X-Actor">;
}
interface ReplicaName extends AdminAuth {
  name: string;
  /** Cluster of the replica (default main), from the query string as in standalone. */
  cluster?: Query<string>;
}
/*
 * Body fields are optional and loosely typed on purpose: Encore refuses a
 * missing or mistyped field before the handler runs, with a message that
 * names no field (runtimes/core/src/api/jsonschema/de.rs). The shared
 * handler validates them and names the field, as standalone does.
 */
interface AddReplicaRequest extends AdminAuth {
  /** postgres:// URL of the replica (required). */
  connectionString?: unknown;
  /** replica_N by default. */
  name?: unknown;
  /** Integer 1..1000 for the weighted strategy. */
  weight?: unknown;
  /** Cluster to add to (default main). */
  cluster?: unknown;
  /** Zone of the replica (a zone name). */
  zone?: unknown;
}
interface SwitchRequest extends AdminAuth {
  /** true or false (required). */
  enabled?: unknown;
}
interface EndpointSwitchRequest extends SwitchRequest {
  endpoint: string;
}
interface Switches {
  enabled: boolean;
  enabledEndpoints: string[] | null;
  disabledEndpoints: string[];
}
interface CacheSwitchesResponse {
  enabled: boolean;
  disabledEndpoints: string[];
}
interface CircuitResponse {
  name: string;
  circuit: string;
}
interface AddedReplica {
  name: string;
  address: string;
  state: string;
  /** 201, as standalone (not part of the body). */
  httpStatus: HttpStatus;
}

export const forceHealthCheck = api(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/health-check",
  },
  async (req: AdminAuth): Promise<ReplicaStatusResponse> =>
    runAdmin("database.forceHealthCheck", req, {
      params: {},
      query: {},
      body: undefined,
    }),
);

export const addReplica = api(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/replicas",
  },
  async (req: AddReplicaRequest): Promise<AddedReplica> => {
    const added = await runAdmin<Omit<AddedReplica, "httpStatus">>(
      "database.addReplica",
      req,
      {
        params: {},
        query: {},
        body: {
          connectionString: req.connectionString,
          name: req.name,
          weight: req.weight,
          cluster: req.cluster,
          zone: req.zone,
        },
      },
    );
    return { ...added, httpStatus: HttpStatus.Created };
  },
);

export const removeReplica = api(
  {
    expose: true,
    sensitive: true,
    method: "DELETE",
    path: "/v1/system/database/replicas/:name",
  },
  async (req: ReplicaName): Promise<{ removed: string }> =>
    runAdmin("database.removeReplica", req, {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const openCircuit = api(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/replicas/:name/circuit/open",
  },
  async (req: ReplicaName): Promise<CircuitResponse> =>
    runAdmin("database.openCircuit", req, {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const closeCircuit = api(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/replicas/:name/circuit/close",
  },
  async (req: ReplicaName): Promise<CircuitResponse> =>
    runAdmin("database.closeCircuit", req, {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const setReplicaReads = api(
  {
    expose: true,
    sensitive: true,
    method: "PUT",
    bodyLimit: 1048576,
    path: "/v1/system/database/read-replicas",
  },
  async (req: SwitchRequest): Promise<Switches> =>
    runAdmin("database.setReplicaReads", req, {
      params: {},
      query: {},
      body: { enabled: req.enabled },
    }),
);

export const setEndpointReplicaReads = api(
  {
    expose: true,
    sensitive: true,
    method: "PUT",
    bodyLimit: 1048576,
    path: "/v1/system/database/read-replicas/endpoints/:endpoint",
  },
  async (req: EndpointSwitchRequest): Promise<Switches> =>
    runAdmin("database.setEndpointReplicaReads", req, {
      params: { endpoint: req.endpoint },
      query: {},
      body: { enabled: req.enabled },
    }),
);

export const setCache = api(
  {
    expose: true,
    sensitive: true,
    method: "PUT",
    bodyLimit: 1048576,
    path: "/v1/system/database/cache",
  },
  async (req: SwitchRequest): Promise<CacheSwitchesResponse> =>
    runAdmin("database.setCache", req, {
      params: {},
      query: {},
      body: { enabled: req.enabled },
    }),
);

export const setEndpointCache = api(
  {
    expose: true,
    sensitive: true,
    method: "PUT",
    bodyLimit: 1048576,
    path: "/v1/system/database/cache/endpoints/:endpoint",
  },
  async (req: EndpointSwitchRequest): Promise<CacheSwitchesResponse> =>
    runAdmin("database.setEndpointCache", req, {
      params: { endpoint: req.endpoint },
      query: {},
      body: { enabled: req.enabled },
    }),
);

interface AuditRequest extends AdminAuth {
  /** 1 to 500 (default 50); checked by the shared handler. */
  limit?: Query<string>;
}

export const adminAudit = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/admin/audit",
  },
  async (req: AuditRequest): Promise<AuditResponse> =>
    runAdmin("database.adminAudit", req, {
      params: {},
      query: { limit: req.limit },
      body: undefined,
    }),
);

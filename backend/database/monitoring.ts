/**
 * Encore edge: the monitoring, admin and metrics endpoints of the database
 * service. Each only calls the shared handler; admin endpoints use
 * `auth: true`, checked by the gateway's auth handler in auth.ts.
 */
import { api, type Query } from "encore.dev/api";
import { adminRoutes } from "./admin_handlers";
import { metrics, router, routerReady } from "./databases";
import { toAPIError } from "./encore_bridge";
import type { RouteDef, RouteInput } from "../shared/http/route";
import { jsonLogger } from "./router/logger";
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

const admin = new Map<string, RouteDef>(
  adminRoutes(router, jsonLogger).map((r) => [r.endpoint, r] as const),
);

async function runAdmin<T>(endpoint: string, input: RouteInput): Promise<T> {
  await routerReady;
  try {
    return (await admin.get(endpoint)!.handle(input)) as T;
  } catch (err) {
    throw toAPIError(err);
  }
}

export const status = api(
  { expose: true, method: "GET", path: "/v1/system/database/replicas/status" },
  async (): Promise<ReplicaStatusResponse> => {
    await routerReady;
    return replicaStatus(router);
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

export const prometheus = api.raw(
  { expose: true, method: "GET", path: "/metrics" },
  async (_req, resp) => {
    const { contentType, body } = await metrics.render();
    resp.writeHead(200, { "Content-Type": contentType });
    resp.end(body);
  },
);

interface ReplicaName {
  name: string;
  /** Cluster of the replica (default main), from the query string as in standalone. */
  cluster?: Query<string>;
}
interface AddReplicaRequest {
  connectionString: string;
  name?: string;
  weight?: number;
  cluster?: string;
}
interface SwitchRequest {
  enabled: boolean;
}
interface EndpointSwitchRequest {
  endpoint: string;
  enabled: boolean;
}
interface Switches {
  enabled: boolean;
  enabledEndpoints: string[] | null;
  disabledEndpoints: string[];
}
interface CircuitResponse {
  name: string;
  circuit: string;
}

export const forceHealthCheck = api(
  {
    expose: true,
    auth: true,
    method: "POST",
    path: "/v1/system/database/health-check",
  },
  async (): Promise<ReplicaStatusResponse> =>
    runAdmin("database.forceHealthCheck", {
      params: {},
      query: {},
      body: undefined,
    }),
);

export const addReplica = api(
  {
    expose: true,
    auth: true,
    method: "POST",
    path: "/v1/system/database/replicas",
  },
  async (
    req: AddReplicaRequest,
  ): Promise<{ name: string; address: string; state: string }> =>
    runAdmin("database.addReplica", { params: {}, query: {}, body: req }),
);

export const removeReplica = api(
  {
    expose: true,
    auth: true,
    method: "DELETE",
    path: "/v1/system/database/replicas/:name",
  },
  async (req: ReplicaName): Promise<{ removed: string }> =>
    runAdmin("database.removeReplica", {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const openCircuit = api(
  {
    expose: true,
    auth: true,
    method: "POST",
    path: "/v1/system/database/replicas/:name/circuit/open",
  },
  async (req: ReplicaName): Promise<CircuitResponse> =>
    runAdmin("database.openCircuit", {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const closeCircuit = api(
  {
    expose: true,
    auth: true,
    method: "POST",
    path: "/v1/system/database/replicas/:name/circuit/close",
  },
  async (req: ReplicaName): Promise<CircuitResponse> =>
    runAdmin("database.closeCircuit", {
      params: { name: req.name },
      query: { cluster: req.cluster },
      body: undefined,
    }),
);

export const setReplicaReads = api(
  {
    expose: true,
    auth: true,
    method: "PUT",
    path: "/v1/system/database/read-replicas",
  },
  async (req: SwitchRequest): Promise<Switches> =>
    runAdmin("database.setReplicaReads", {
      params: {},
      query: {},
      body: { enabled: req.enabled },
    }),
);

export const setEndpointReplicaReads = api(
  {
    expose: true,
    auth: true,
    method: "PUT",
    path: "/v1/system/database/read-replicas/endpoints/:endpoint",
  },
  async (req: EndpointSwitchRequest): Promise<Switches> =>
    runAdmin("database.setEndpointReplicaReads", {
      params: { endpoint: req.endpoint },
      query: {},
      body: { enabled: req.enabled },
    }),
);

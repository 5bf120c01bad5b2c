/**
 * Encore edge: the admin endpoints of the database service. Each checks the
 * bearer token itself ({@link requireAdmin}), so no auth handler can turn a
 * public request into an error, then calls the shared handler
 * (database/http/admin_routes.ts). They are `sensitive: true` because they
 * receive the token (and addReplica a connection string), which Encore's
 * traces must never record.
 */
import { api, HttpStatus, type Header, type Query } from "encore.dev/api";
import { service, serviceReady } from "./service";
import { hasBody, requireAdmin, toAPIError } from "./bridge";
import { requireJsonBody } from "../../shared/http/json_body";
import type { RouteDef, RouteInput } from "../../shared/http/route";
import { parseActorHeader } from "../../shared/http/validation";
import type { ReplicaStatusResponse } from "../status/router_status";
import type { AuditResponse } from "../http/fleet_routes";

/** The database service's routes by endpoint name (its own; domains' are not here). */
const routes: ReadonlyMap<string, RouteDef> = new Map(
  service.routes
    .filter((r) => r.endpoint.startsWith("database."))
    .map((r) => [r.endpoint, r] as const),
);

/** Checks the admin token, then runs the shared admin handler of `endpoint`. */
async function runAdmin<T>(
  endpoint: string,
  auth: AdminAuth,
  input: RouteInput,
): Promise<T> {
  requireAdmin(auth.authorization);
  await serviceReady;
  try {
    // Encore decodes any body as JSON: a form post from another site must not act.
    requireJsonBody(auth.contentType, hasBody(input));
    const actor = parseActorHeader(auth.actor);
    return (await routes
      .get(endpoint)!
      .handle(actor !== undefined ? { ...input, actor } : input)) as T;
  } catch (err) {
    throw toAPIError(err);
  }
}

/** The admin bearer token, checked by the endpoint itself. */
interface AdminAuth {
  authorization?: Header<"Authorization">;
  /** Who is acting, for the audit trail (checked by the shared handler). */
  actor?: Header<"X-Actor">;
  /** A request with a body must send JSON (a 400 otherwise; standalone 415). */
  contentType?: Header<"Content-Type">;
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

interface IssueApiKeyRequest extends AdminAuth {
  /** The user the key acts as (required). */
  userId?: unknown;
  /** The orgs it may read and write: an array of org ids, or "*" for every org (required). */
  orgIds?: unknown;
  label?: unknown;
}
interface ApiKeyInfo {
  id: string;
  userId: string;
  orgIds: number[] | "all";
  label: string;
  createdAt: string;
  createdBy: string | null;
  revokedAt: string | null;
}
interface IssuedApiKey extends ApiKeyInfo {
  /** The key itself: in this answer only, never again. */
  key: string;
  /** 201, as standalone (not part of the body). */
  httpStatus: HttpStatus;
}
interface ApiKeyList {
  keys: ApiKeyInfo[];
}
interface ApiKeyId extends AdminAuth {
  id: string;
}

export const issueApiKey = api(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/api-keys",
  },
  async (req: IssueApiKeyRequest): Promise<IssuedApiKey> => {
    const issued = await runAdmin<Omit<IssuedApiKey, "httpStatus">>(
      "database.issueApiKey",
      req,
      {
        params: {},
        query: {},
        body: { userId: req.userId, orgIds: req.orgIds, label: req.label },
      },
    );
    return { ...issued, httpStatus: HttpStatus.Created };
  },
);

export const listApiKeys = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/api-keys",
  },
  async (req: AdminAuth): Promise<ApiKeyList> =>
    runAdmin("database.listApiKeys", req, {
      params: {},
      query: {},
      body: undefined,
    }),
);

export const revokeApiKey = api(
  {
    expose: true,
    sensitive: true,
    method: "DELETE",
    path: "/v1/system/database/api-keys/:id",
  },
  async (req: ApiKeyId): Promise<ApiKeyInfo> =>
    runAdmin("database.revokeApiKey", req, {
      params: { id: req.id },
      query: {},
      body: undefined,
    }),
);

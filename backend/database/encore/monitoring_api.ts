/**
 * Encore edge: the monitoring, admin and metrics endpoints of the database
 * service. Each only calls the shared handler. Admin endpoints check the
 * bearer token themselves ({@link requireAdmin}), so no auth handler can
 * turn a public request into an error; they are `sensitive: true` because
 * they receive the token (and addReplica a connection string), which
 * Encore's traces must never record.
 */
import {
  api,
  HttpStatus,
  type Cookie,
  type Header,
  type Query,
} from "encore.dev/api";
import type { ServerResponse } from "node:http";
import {
  control,
  feeds,
  metrics,
  router,
  routerReady,
  routes,
  serviceConfig,
} from "../databases";
import {
  monitoringAccessOf,
  requireAdmin,
  requireMonitoring,
  toAPIError,
} from "./bridge";
import { HttpResponse } from "../../shared/http/route";
import {
  forwardedHttps,
  MONITORING_DENIED,
} from "../../shared/http/monitoring_auth";
import {
  HTTP_STATUS,
  InvalidArgumentError,
  toRouterError,
} from "../router/index";
import {
  dashboardLogin as login,
  dashboardPage,
  eventsFor,
} from "../http/dashboard_routes";
import { fleetViewFor } from "../http/fleet_routes";
import type { HistoryResponse } from "../dashboard/history";
import type { EventsResponse } from "../dashboard/event_log";
import type { RouteInput } from "../../shared/http/route";
import { parseActorHeader } from "../../shared/http/validation";
import type { FleetViewResponse } from "../control/fleet_view";
import type { AuditResponse } from "../http/fleet_routes";
import {
  poolStats,
  replicaHealth,
  replicaLag,
  replicaStatus,
  type PoolStatsResponse,
  type ReplicaHealthResponse,
  type ReplicaLagResponse,
  type ReplicaStatusResponse,
} from "../status/router_status";
import { hostHider } from "../status/host_hider";

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

/**
 * The monitoring token (or the dashboard's cookie), checked by the endpoint
 * itself as the admin token is; `sensitive: true` since it carries it.
 */
interface MonitorAuth {
  authorization?: Header<"Authorization">;
  /**
   * The dashboard's session. A Cookie field, not Header<"Cookie">: Encore's
   * cookie parser looks at every Cookie header (runtimes/core/src/api/schema/cookie.rs),
   * a header field only at the first (jsonschema/parse.rs).
   */
  session?: Cookie<"rr_monitor">;
}

/** Checks monitoring access, waits for the router, then runs `fn`; errors as Encore's. */
async function monitored<T>(
  req: MonitorAuth,
  fn: (privileged: boolean) => T | Promise<T>,
): Promise<T> {
  const privileged = requireMonitoring({
    authorization: req.authorization,
    session: req.session?.value,
  });
  await routerReady;
  try {
    return await fn(privileged);
  } catch (err) {
    throw toAPIError(err);
  }
}

export const status = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/status",
  },
  async (req: MonitorAuth): Promise<ReplicaStatusResponse> =>
    monitored(req, (privileged) =>
      replicaStatus(router, control, { addresses: privileged }),
    ),
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
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/lag",
  },
  async (req: MonitorAuth): Promise<ReplicaLagResponse> =>
    monitored(req, () => replicaLag(router)),
);

export const pools = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/connection-pool/stats",
  },
  async (req: MonitorAuth): Promise<PoolStatsResponse> =>
    monitored(req, () => poolStats(router)),
);

export const fleet = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/fleet",
  },
  async (req: MonitorAuth): Promise<FleetViewResponse> =>
    monitored(req, (privileged) =>
      fleetViewFor(control, privileged, hostHider(router)),
    ),
);

export const history = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/history",
  },
  async (req: MonitorAuth): Promise<HistoryResponse> =>
    monitored(req, () => feeds.history.snapshot()),
);

export const events = api(
  {
    expose: true,
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/events",
  },
  async (req: MonitorAuth): Promise<EventsResponse> =>
    monitored(req, (privileged) =>
      eventsFor(feeds, privileged, hostHider(router)),
    ),
);

/** Sends a shared handler's {@link HttpResponse} from a raw endpoint. */
function sendRaw(resp: ServerResponse, r: HttpResponse): void {
  const headers: Record<string, string> = { ...(r.headers ?? {}) };
  headers["Content-Type"] = r.contentType ?? "application/json";
  resp.writeHead(r.status, headers);
  resp.end(
    r.contentType !== undefined ? String(r.body) : JSON.stringify(r.body),
  );
}

/** The 401 of a monitoring endpoint, with the body the typed endpoints send. */
const DENIED = new HttpResponse(MONITORING_DENIED.status, {
  code: MONITORING_DENIED.code,
  message: MONITORING_DENIED.message,
});

// Raw: an HTML page, and a 401 that is the same page (it shows its login form).
export const dashboard = api.raw(
  {
    expose: true,
    // Its requests carry the session cookie or a token: traces must not keep them.
    sensitive: true,
    method: "GET",
    path: "/v1/system/database/replicas/dashboard",
  },
  async (req, resp) => {
    sendRaw(resp, dashboardPage(monitoringAccessOf(req).allowed ? 200 : 401));
  },
);

// Raw: its answer sets a cookie. The body is read here (at most 4 KiB).
export const dashboardLogin = api.raw(
  {
    expose: true,
    sensitive: true,
    method: "POST",
    bodyLimit: 1048576,
    path: "/v1/system/database/replicas/dashboard/login",
  },
  async (req, resp) => {
    try {
      const body = await readSmallJson(req, 4096);
      sendRaw(
        resp,
        login(
          body,
          serviceConfig,
          forwardedHttps(
            [req.headers["x-forwarded-proto"]].flat().join(",") || undefined,
          ),
        ),
      );
    } catch (err) {
      const known = toRouterError(err);
      sendRaw(
        resp,
        new HttpResponse(
          known === null ? 500 : HTTP_STATUS[known.code],
          known === null
            ? { code: "internal", message: "internal error" }
            : { code: known.code, message: known.message },
        ),
      );
    }
  },
);

/** A request body of at most `limit` bytes, parsed as JSON. */
async function readSmallJson(
  req: AsyncIterable<Buffer | string>,
  limit: number,
): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > limit)
      throw new InvalidArgumentError("body", `larger than ${limit} bytes`);
    chunks.push(b);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new InvalidArgumentError("body", "not valid JSON");
  }
}

export const prometheus = api.raw(
  // Scrapes may carry the monitoring or admin token: traces must not keep it.
  { expose: true, sensitive: true, method: "GET", path: "/metrics" },
  async (req, resp) => {
    if (!monitoringAccessOf(req).allowed) return sendRaw(resp, DENIED);
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

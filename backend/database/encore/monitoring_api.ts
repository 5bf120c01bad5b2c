/**
 * Encore edge: the monitoring, dashboard and metrics endpoints of the
 * database service (the admin ones are in admin_api.ts). Each only calls the
 * shared handler; `sensitive: true` where the request carries the
 * monitoring token, which Encore's traces must never record.
 */
import { api, type Cookie, type Header } from "encore.dev/api";
import type { ServerResponse } from "node:http";
import { service, serviceReady } from "./service";
import { monitoringAccessOf, requireMonitoring, toAPIError } from "./bridge";
import { HttpResponse } from "../../shared/http/route";
import { requireJsonBody } from "../../shared/http/json_body";
import { sessionsFromCookies } from "../../shared/http/dashboard_session";
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
import type { FleetViewResponse } from "../control/fleet_view";
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

const { control, feeds, metrics } = service;
const router = service.router.roles;

/**
 * The monitoring token (or the dashboard's cookie), checked by the endpoint
 * itself as the admin token is; `sensitive: true` since it carries it.
 */
interface MonitorAuth {
  authorization?: Header<"Authorization">;
  /**
   * The dashboard's session, by both of its names. Cookie fields: Encore's
   * cookie parser looks at every Cookie header, but keeps one value per
   * name, the last (a `cookie::CookieJar`; runtimes/core/src/api/schema/cookie.rs).
   * So the first Cookie header is read too (a header field sees only the
   * first: jsonschema/parse.rs), where a browser over HTTP/1.1 sends every
   * cookie: any valid session among them is enough.
   */
  session?: Cookie<"rr_monitor">;
  hostSession?: Cookie<"__Host-rr_monitor">;
  cookies?: Header<"Cookie">;
}

/** Checks monitoring access, waits for the router, then runs `fn`; errors as Encore's. */
async function monitored<T>(
  req: MonitorAuth,
  fn: (privileged: boolean) => T | Promise<T>,
): Promise<T> {
  const privileged = requireMonitoring({
    authorization: req.authorization,
    sessions: [
      ...sessionsFromCookies(req.cookies),
      ...[req.session?.value, req.hostSession?.value].filter(
        (v): v is string => v !== undefined,
      ),
    ],
  });
  await serviceReady;
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
    await serviceReady;
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
      requireJsonBody(
        [req.headers["content-type"]].flat()[0],
        Number([req.headers["content-length"]].flat()[0] ?? "0") > 0 ||
          req.headers["transfer-encoding"] !== undefined,
      );
      const body = await readSmallJson(req, 4096);
      sendRaw(
        resp,
        login(
          body,
          service.tokens,
          {
            https: forwardedHttps(
              [req.headers["x-forwarded-proto"]].flat().join(",") || undefined,
            ),
            address: clientAddress(req),
            origin: [req.headers.origin].flat()[0],
            host: [req.headers.host].flat()[0],
            forwardedHost: [req.headers["x-forwarded-host"]].flat()[0],
            fetchSite: [req.headers["sec-fetch-site"]].flat()[0],
          },
          service.logins,
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

/**
 * The client's address for the login backoff: the last X-Forwarded-For
 * entry (the one the nearest proxy appended; a client can forge the ones
 * before it), else the socket's peer, else "unknown" (one bucket for all).
 */
function clientAddress(req: {
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string | undefined };
}): string {
  const forwarded = [req.headers["x-forwarded-for"]].flat()[0];
  return (
    forwarded?.split(",").at(-1)?.trim() ||
    req.socket?.remoteAddress ||
    "unknown"
  );
}

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

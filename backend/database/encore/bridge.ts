import { APIError, ErrCode } from "encore.dev/api";
import {
  type RouterErrorCode,
  runWithRequestContext,
  toRouterError,
} from "../router/index";
import { checkAdminToken } from "../../shared/http/admin_auth";
import {
  MONITORING_DENIED,
  monitoringAccess,
  type Credentials,
} from "../../shared/http/monitoring_auth";
import type { Domain, Endpoints } from "../../shared/domain";
import { requireJsonBody } from "../../shared/http/json_body";
import { sessionsFromCookies } from "../../shared/http/dashboard_session";
import type { RouteDef, RouteInput } from "../../shared/http/route";
import {
  requestContextFromHeaders,
  type RouterHeaders,
} from "../../shared/http/router_headers";
import { service, serviceReady } from "./service";
import { getAuthData } from "encore.dev/internal/codegen/auth";
import { callerOf, type CallerData } from "./auth";

/**
 * Edge file: imports `encore.dev/api` at run time, so only Encore `api.ts`
 * files may import it (never the router core or the standalone server).
 *
 * After a handler that wrote, it mints the `X-Consistency-Token` from the
 * primary's WAL position, as the standalone server does.
 */

const CODES: Readonly<Record<RouterErrorCode, ErrCode>> = {
  invalid_argument: ErrCode.InvalidArgument,
  not_found: ErrCode.NotFound,
  unauthenticated: ErrCode.Unauthenticated,
  permission_denied: ErrCode.PermissionDenied,
  resource_exhausted: ErrCode.ResourceExhausted,
  unavailable: ErrCode.Unavailable,
  internal: ErrCode.Internal,
};

/**
 * Mounts `domain` on this process's service: builds its typed handlers on
 * the shared router (once, as the domain's `api.ts` is loaded) and makes
 * its endpoint names known to the admin switches.
 */
export function mount<E extends Endpoints>(domain: Domain<E>): E {
  return service.mount(domain);
}

/**
 * Runs `route`'s handler inside a request context (endpoint name,
 * requested consistency, caller), and returns its body plus `servedBy`
 * (nodes that ran its statements, comma-separated; empty when it ran none)
 * for the `X-Served-By` response header.
 *
 * @throws {APIError} mapped from the handler's {@link RouterError} code;
 *   anything else becomes `internal` without its message (it may hold
 *   details the client must not see).
 */
export async function call<T>(
  route: RouteDef<T>,
  input: RouteInput,
  headers?: RouterHeaders,
): Promise<T & { servedBy: string; consistencyToken?: string }> {
  try {
    // Encore decodes a body as JSON whatever its Content-Type
    // (runtimes/core/src/api/schema/body.rs, parse_incoming_request_body):
    // a body sent as text/plain from another site must not get through.
    requireJsonBody(headers?.contentType, hasBody(input));
    // The caller the gateway's auth handler established (auth.ts).
    const caller = callerOf(getAuthData<CallerData>());
    const ctx = requestContextFromHeaders(route.endpoint, headers, caller);
    await serviceReady;
    const body = await runWithRequestContext(ctx, () =>
      route.handle(caller !== undefined ? { ...input, caller } : input),
    );
    const servedBy = ctx.servedBy.join(",");
    if (ctx.wroteCluster === undefined) return { ...body, servedBy };
    const token = await service.router.tokenAfterWrite(ctx.wroteCluster, ctx);
    return token === null
      ? { ...body, servedBy }
      : { ...body, servedBy, consistencyToken: token };
  } catch (err) {
    throw toAPIError(err);
  }
}

/** The request carried a body: a field of it is set (Encore leaves the absent ones undefined). */
export function hasBody(input: RouteInput): boolean {
  const { body } = input;
  if (body === undefined || body === null) return false;
  if (typeof body !== "object") return true;
  return Object.values(body).some((v) => v !== undefined);
}

/** Maps a thrown error to an Encore `APIError`. */
export function toAPIError(err: unknown): APIError {
  if (err instanceof APIError) return err;
  const known = toRouterError(err);
  if (known !== null)
    return new APIError(CODES[known.code], known.message, known);
  return new APIError(
    ErrCode.Internal,
    "internal error",
    err instanceof Error ? err : undefined,
  );
}

/**
 * Admin authorization, decided inside the admin endpoints with the same rule
 * and answers as the standalone server: admin API disabled → 403, no bearer
 * token → 401, wrong token → 403.
 *
 * Not an Encore auth handler on purpose: the gateway calls the auth handler
 * for every request that carries an `Authorization` header, public endpoints
 * included, and any error but `unauthenticated` ends that request
 * (runtimes/core/src/api/auth/mod.rs, api/gateway/mod.rs). A finance or
 * monitoring call with a user's own token must be served as if it had none.
 *
 * @throws {APIError} `unauthenticated` or `permission_denied`.
 */
export function requireAdmin(authorization: string | undefined): void {
  const denied = checkAdminToken(authorization, service.config.adminToken);
  if (denied !== null) throw new APIError(CODES[denied.code], denied.message);
}

/**
 * Monitoring access, with the standalone server's rule: with a monitoring
 * token set, the caller needs it (bearer, or the dashboard's session
 * cookie) or the admin token; without one, everyone may look and token
 * holders also see node addresses.
 *
 * @returns whether the caller may see node addresses.
 * @throws {APIError} `unauthenticated` when the route needs the token.
 */
export function requireMonitoring(credentials: Credentials): boolean {
  const access = monitoringAccess(credentials, service.tokens);
  if (!access.allowed)
    throw new APIError(ErrCode.Unauthenticated, MONITORING_DENIED.message);
  return access.privileged;
}

/** The same decision for a raw endpoint, from its Node request headers. */
export function monitoringAccessOf(req: {
  headers: Record<string, string | string[] | undefined>;
}) {
  const one = (v: string | string[] | undefined) =>
    Array.isArray(v) ? v.join("; ") : v;
  return monitoringAccess(
    {
      authorization: one(req.headers.authorization),
      sessions: sessionsFromCookies(req.headers.cookie),
    },
    service.tokens,
  );
}

import { createHmac, timingSafeEqual } from "node:crypto";
import { checkAdminToken } from "./admin_auth";

/** The dashboard's session cookie (set by its login form). */
export const MONITOR_COOKIE = "rr_monitor";
/** How long a dashboard login lasts. */
export const MONITOR_COOKIE_MAX_AGE_S = 12 * 3600;

/** Who may see the monitoring routes, and whether they may see node addresses. */
export interface MonitoringAccess {
  /** The route may answer: no MONITORING_TOKEN is set, or the caller holds it (or the admin token). */
  allowed: boolean;
  /** Holds the monitoring or the admin token: node addresses are shown. */
  privileged: boolean;
}

/**
 * Decides access to a monitoring route from its `Authorization` and `Cookie`
 * headers. With MONITORING_TOKEN set, the caller needs it as a bearer token
 * or the dashboard cookie derived from it (or the admin token); without it,
 * every caller is allowed but only admin-token holders are privileged.
 * Tokens are compared as SHA-256 digests in constant time.
 */
export function monitoringAccess(
  headers: { authorization?: string | undefined; cookie?: string | undefined },
  tokens: { monitoringToken: string | null; adminToken: string | null },
): MonitoringAccess {
  const admin =
    tokens.adminToken !== null &&
    checkAdminToken(headers.authorization, tokens.adminToken) === null;
  const monitor =
    tokens.monitoringToken !== null &&
    (bearerIs(headers.authorization, tokens.monitoringToken) ||
      cookieIs(headers.cookie, monitorCookieValue(tokens.monitoringToken)));
  return {
    allowed: tokens.monitoringToken === null || admin || monitor,
    privileged: admin || monitor,
  };
}

/** The refusal a monitoring route answers without the token. */
export const MONITORING_DENIED = {
  status: 401,
  code: "unauthenticated",
  message:
    "monitoring routes need Authorization: Bearer <MONITORING_TOKEN> (under Encore the MonitoringToken secret), or the dashboard's login",
} as const;

/**
 * The cookie's value: an HMAC of a fixed text under the token, so the
 * browser never holds the token itself, and changing the token ends every
 * dashboard session.
 */
export function monitorCookieValue(token: string): string {
  return createHmac("sha256", token)
    .update("replica-router dashboard session v1")
    .digest("base64url");
}

/** `Set-Cookie` for a dashboard login; `Secure` when the request came over HTTPS. */
export function monitorCookieHeader(token: string, https: boolean): string {
  return [
    `${MONITOR_COOKIE}=${monitorCookieValue(token)}`,
    "Path=/v1/system/database/",
    `Max-Age=${MONITOR_COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(https ? ["Secure"] : []),
  ].join("; ");
}

/** True when `given` equals `expected`, compared in constant time over digests. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac("sha256", "compare").update(given).digest();
  const b = createHmac("sha256", "compare").update(expected).digest();
  return timingSafeEqual(a, b);
}

function bearerIs(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return m !== null && sameSecret(m[1]!, token);
}

function cookieIs(cookieHeader: string | undefined, value: string): boolean {
  for (const part of (cookieHeader ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === MONITOR_COOKIE && sameSecret(rest.join("="), value))
      return true;
  }
  return false;
}

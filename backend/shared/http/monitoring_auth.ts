import { createHmac, timingSafeEqual } from "node:crypto";
import { checkAdminToken } from "./admin_auth";

/** The dashboard's session cookie (set by its login form). */
export const MONITOR_COOKIE = "rr_monitor";
/** How long a dashboard login lasts (checked by the server, not only the browser). */
export const MONITOR_COOKIE_MAX_AGE_S = 12 * 3600;

/** Who may see the monitoring routes, and whether they may see node addresses. */
export interface MonitoringAccess {
  /** The route may answer: no MONITORING_TOKEN is set, or the caller holds it (or the admin token). */
  allowed: boolean;
  /** Holds the monitoring or the admin token: node addresses are shown. */
  privileged: boolean;
}

/** The two tokens, as configured; null = not set. */
export interface Tokens {
  monitoringToken: string | null;
  adminToken: string | null;
}

/** What a request carries: its `Authorization` header, and its session cookie's value. */
export interface Credentials {
  authorization?: string | undefined;
  /** The `rr_monitor` cookie's value (from the Cookie header: {@link sessionFromCookieHeader}). */
  session?: string | undefined;
}

/**
 * Decides access to a monitoring route. With MONITORING_TOKEN set, the
 * caller needs it as a bearer token, or the admin token, or a dashboard
 * session made from either; without it, every caller is allowed and those
 * holding one of them are privileged. Tokens are compared as digests in
 * constant time.
 */
export function monitoringAccess(
  credentials: Credentials,
  tokens: Tokens,
  nowMs: number = Date.now(),
): MonitoringAccess {
  const privileged =
    (tokens.adminToken !== null &&
      checkAdminToken(credentials.authorization, tokens.adminToken) === null) ||
    (tokens.monitoringToken !== null &&
      bearerIs(credentials.authorization, tokens.monitoringToken)) ||
    sessionValid(credentials.session, tokens, nowMs);
  return { allowed: tokens.monitoringToken === null || privileged, privileged };
}

/** The refusal a monitoring route answers without the token. */
export const MONITORING_DENIED = {
  status: 401,
  code: "unauthenticated",
  message:
    "monitoring routes need Authorization: Bearer <MONITORING_TOKEN> (under Encore the MonitoringToken secret), or the dashboard's login",
} as const;

/**
 * A dashboard session for whoever typed `token`: `<expiry>.<kind>.<mac>`,
 * kind `m` for the monitoring token, `a` for the admin token; null when
 * `token` is neither. The MAC is an HMAC under that token, so the browser
 * never holds the token, the server checks the expiry, and changing the
 * token ends every session made from it.
 */
export function sessionFor(
  token: string,
  tokens: Tokens,
  nowMs: number = Date.now(),
): string | null {
  const exp = Math.floor(nowMs / 1000) + MONITOR_COOKIE_MAX_AGE_S;
  if (
    tokens.monitoringToken !== null &&
    sameSecret(token, tokens.monitoringToken)
  )
    return `${exp}.m.${mac(tokens.monitoringToken, "m", exp)}`;
  if (tokens.adminToken !== null && sameSecret(token, tokens.adminToken))
    return `${exp}.a.${mac(tokens.adminToken, "a", exp)}`;
  return null;
}

/** `Set-Cookie` for a session; `Secure` when the request came over HTTPS. */
export function sessionCookieHeader(session: string, https: boolean): string {
  return [
    `${MONITOR_COOKIE}=${session}`,
    "Path=/v1/system/database/",
    `Max-Age=${MONITOR_COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(https ? ["Secure"] : []),
  ].join("; ");
}

/** The session cookie's value in a `Cookie` header: the first `rr_monitor` pair. */
export function sessionFromCookieHeader(
  header: string | undefined,
): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === MONITOR_COOKIE)
      return part.slice(at + 1).trim();
  }
  return undefined;
}

/** Did the request come over HTTPS, by the first X-Forwarded-Proto entry a proxy set? */
export function forwardedHttps(header: string | undefined): boolean {
  return (header ?? "").split(",")[0]!.trim().toLowerCase() === "https";
}

/** True when `given` equals `expected`, compared in constant time over digests. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac("sha256", "compare").update(given).digest();
  const b = createHmac("sha256", "compare").update(expected).digest();
  return timingSafeEqual(a, b);
}

function sessionValid(
  session: string | undefined,
  tokens: Tokens,
  nowMs: number,
): boolean {
  const m = /^(\d{1,12})\.([ma])\.([A-Za-z0-9_-]{43})$/.exec(session ?? "");
  if (m === null) return false;
  const exp = Number(m[1]);
  if (exp * 1000 <= nowMs) return false;
  const token = m[2] === "m" ? tokens.monitoringToken : tokens.adminToken;
  return token !== null && sameSecret(m[3]!, mac(token, m[2]!, exp));
}

function mac(token: string, kind: string, exp: number): string {
  return createHmac("sha256", token)
    .update(`replica-router dashboard session v1|${kind}|${exp}`)
    .digest("base64url");
}

function bearerIs(authorization: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return m !== null && sameSecret(m[1]!, token);
}

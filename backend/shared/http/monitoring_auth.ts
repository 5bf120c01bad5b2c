import { bearerOf, checkAdminToken } from "./admin_auth";
import { anySessionValid, sameSecret } from "./dashboard_session";

/** Who may see the monitoring routes, and whether they may see node addresses. */
export interface MonitoringAccess {
  /** The route may answer: no MONITORING_TOKEN is set, or the caller holds it (or the admin token). */
  allowed: boolean;
  /** Holds the monitoring or the admin token: node addresses are shown. */
  privileged: boolean;
}

/** The two tokens, as configured (null = not set), and the key dashboard sessions are signed with. */
export interface Tokens {
  monitoringToken: string | null;
  adminToken: string | null;
  /** SESSION_SECRET (or a random one for this process). */
  sessionSecret: string;
}

/** What a request carries: its `Authorization` header, and its session cookies' values. */
export interface Credentials {
  authorization?: string | undefined;
  /** Every dashboard session cookie it carried (dashboard_session.ts, `sessionsFromCookies`). */
  sessions?: readonly string[] | undefined;
}

/**
 * Decides access to a monitoring route. With MONITORING_TOKEN set, the
 * caller needs it as a bearer token, or the admin token, or a dashboard
 * session (made from the monitoring token); without it, every caller is allowed and those
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
    anySessionValid(credentials.sessions, tokens, nowMs);
  return { allowed: tokens.monitoringToken === null || privileged, privileged };
}

/** The refusal a monitoring route answers without the token. */
export const MONITORING_DENIED = {
  status: 401,
  code: "unauthenticated",
  message:
    "monitoring routes need Authorization: Bearer <MONITORING_TOKEN> (under Encore the MonitoringToken secret), or the dashboard's login",
} as const;

/** Did the request come over HTTPS, by the first X-Forwarded-Proto entry a proxy set? */
export function forwardedHttps(header: string | undefined): boolean {
  return (header ?? "").split(",")[0]!.trim().toLowerCase() === "https";
}

function bearerIs(authorization: string | undefined, token: string): boolean {
  const given = bearerOf(authorization);
  return given !== null && sameSecret(given, token);
}

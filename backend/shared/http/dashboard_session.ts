import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The dashboard's session cookie over plain HTTP (a local or internal service). */
export const MONITOR_COOKIE = "rr_monitor";
/**
 * Over HTTPS: the `__Host-` prefix makes browsers refuse it unless it is
 * Secure, host-only and for Path=/, so a sibling subdomain cannot plant one.
 */
export const MONITOR_COOKIE_HTTPS = "__Host-rr_monitor";
/** How long a dashboard login lasts (checked by the server, not only the browser). */
export const MONITOR_COOKIE_MAX_AGE_S = 12 * 3600;

/** What sessions are made and checked with. */
export interface SessionSecrets {
  /** MONITORING_TOKEN: the one token the login form takes; null = no login (monitoring open). */
  readonly monitoringToken: string | null;
  /**
   * SESSION_SECRET: the key sessions are signed with, never a token, so a
   * stolen cookie gives nothing to guess a token against offline.
   */
  readonly sessionSecret: string;
}

/**
 * A new dashboard session: `<id>.<expiry>.<mac>`. The id is random (two
 * logins never get the same cookie); the MAC, under SESSION_SECRET, binds
 * id and expiry to the monitoring token in force (a fingerprint of it, not
 * the token), so changing the token ends every session.
 *
 * @returns null when `token` is not the monitoring token (the admin token
 *   is not taken here: the dashboard is for watching).
 */
export function sessionFor(
  token: string,
  secrets: SessionSecrets,
  nowMs: number = Date.now(),
): string | null {
  if (
    secrets.monitoringToken === null ||
    !sameSecret(token, secrets.monitoringToken)
  )
    return null;
  const id = randomBytes(16).toString("base64url");
  const exp = Math.floor(nowMs / 1000) + MONITOR_COOKIE_MAX_AGE_S;
  return `${id}.${exp}.${mac(secrets, id, exp)}`;
}

/** Whether any of `sessions` (every session cookie the request carried) is valid now. */
export function anySessionValid(
  sessions: readonly string[] | undefined,
  secrets: SessionSecrets,
  nowMs: number,
): boolean {
  if (sessions === undefined || secrets.monitoringToken === null) return false;
  for (const s of sessions) {
    const m = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(s);
    if (m === null) continue;
    const exp = Number(m[2]);
    if (exp * 1000 <= nowMs) continue;
    if (sameSecret(m[3]!, mac(secrets, m[1]!, exp))) return true;
  }
  return false;
}

/**
 * `Set-Cookie` for a session. Over HTTPS: `__Host-rr_monitor`, Secure,
 * Path=/; over HTTP: `rr_monitor` on the service's system paths.
 */
export function sessionCookieHeader(session: string, https: boolean): string {
  return [
    https
      ? `${MONITOR_COOKIE_HTTPS}=${session}; Path=/`
      : `${MONITOR_COOKIE}=${session}; Path=/v1/system/database/`,
    `Max-Age=${MONITOR_COOKIE_MAX_AGE_S}`,
    "HttpOnly",
    "SameSite=Strict",
    ...(https ? ["Secure"] : []),
  ].join("; ");
}

/**
 * Every session cookie's value in `Cookie` headers, both names, in order: a
 * planted `rr_monitor=bogus` sent before the real one does not lock the
 * operator out, since any valid one is enough.
 */
export function sessionsFromCookies(
  headers: string | readonly string[] | undefined,
): string[] {
  const out: string[] = [];
  for (const header of typeof headers === "string"
    ? [headers]
    : (headers ?? []))
    for (const part of header.split(";")) {
      const at = part.indexOf("=");
      if (at <= 0) continue;
      const name = part.slice(0, at).trim();
      if (name === MONITOR_COOKIE || name === MONITOR_COOKIE_HTTPS)
        out.push(part.slice(at + 1).trim());
    }
  return out;
}

/** A random SESSION_SECRET for a process started without one. */
export function randomSessionSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** True when `given` equals `expected`, compared in constant time over digests. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHmac("sha256", "compare").update(given).digest();
  const b = createHmac("sha256", "compare").update(expected).digest();
  return timingSafeEqual(a, b);
}

function mac(secrets: SessionSecrets, id: string, exp: number): string {
  const token = createHmac("sha256", secrets.sessionSecret)
    .update(`token|${secrets.monitoringToken}`)
    .digest("base64url");
  return createHmac("sha256", secrets.sessionSecret)
    .update(`replica-router dashboard session v2|${id}|${exp}|${token}`)
    .digest("base64url");
}

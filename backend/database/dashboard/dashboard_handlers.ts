import { z } from "zod";
import { parseBody } from "../../shared/http/validation";
import { HttpResponse, type RouteDef } from "../../shared/http/route";
import {
  monitorCookieHeader,
  sameSecret,
} from "../../shared/http/monitoring_auth";
import { RouterError } from "../router/errors";
import type { DashboardFeeds } from "./dashboard_feeds";
import { dashboardHtml } from "./dashboard_page";

/**
 * Response headers of the page: it loads nothing from elsewhere, runs only
 * its own inline script, talks only to this origin, and cannot be framed.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

const HTML = "text/html; charset=utf-8";

/** The dashboard page, as any front door sends it (401 asks the page to show its login form). */
export function dashboardPage(status: 200 | 401): HttpResponse {
  return new HttpResponse(status, dashboardHtml(), HTML, DASHBOARD_HEADERS);
}

const loginBody = z.object({ token: z.string().min(1).max(1000) }).strict();

/** A wrong or missing monitoring token at the login form. */
class LoginRefusedError extends RouterError {
  constructor(message: string) {
    super("unauthenticated", message);
  }
}

/**
 * Checks a login form's token against MONITORING_TOKEN; the answer sets
 * the dashboard's session cookie.
 * @throws {InvalidArgumentError} naming `token` when the body is malformed.
 * @throws {LoginRefusedError} (401) when no token is configured or it is wrong.
 */
export function dashboardLogin(
  body: unknown,
  monitoringToken: string | null,
  https: boolean,
): HttpResponse {
  const { token } = parseBody(loginBody, body);
  if (monitoringToken === null)
    throw new LoginRefusedError(
      "no MONITORING_TOKEN is set: the dashboard needs no login",
    );
  if (!sameSecret(token, monitoringToken))
    throw new LoginRefusedError("wrong monitoring token");
  return new HttpResponse(200, { ok: true }, undefined, {
    "Set-Cookie": monitorCookieHeader(monitoringToken, https),
    "Cache-Control": "no-store",
  });
}

/** The dashboard page, its history and events JSON, and its login. */
export function dashboardRoutes(
  feeds: DashboardFeeds,
  monitoringToken: string | null,
): RouteDef[] {
  return [
    {
      method: "GET",
      path: "/v1/system/database/replicas/dashboard",
      endpoint: "database.dashboard",
      monitoring: true,
      whenDenied: () => dashboardPage(401),
      handle: async () => dashboardPage(200),
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas/dashboard/login",
      endpoint: "database.dashboardLogin",
      handle: async ({ body, https }) =>
        dashboardLogin(body, monitoringToken, https === true),
    },
    {
      method: "GET",
      path: "/v1/system/database/replicas/history",
      endpoint: "database.history",
      monitoring: true,
      handle: async () => feeds.history.snapshot(),
    },
    {
      method: "GET",
      path: "/v1/system/database/replicas/events",
      endpoint: "database.events",
      monitoring: true,
      handle: async () => feeds.events.snapshot(),
    },
  ];
}

import { z } from "zod";
import { parseBody } from "../../shared/http/validation";
import { HttpResponse, type RouteDef } from "../../shared/http/route";
import type { Tokens } from "../../shared/http/monitoring_auth";
import {
  sessionCookieHeader,
  sessionFor,
} from "../../shared/http/dashboard_session";
import {
  type LoginRequest,
  type LoginThrottle,
  originIsHttps,
  requireSameOrigin,
} from "../../shared/http/login_guard";
import { RouterError } from "../router/index";
import type { DashboardFeeds } from "../dashboard/dashboard_feeds";
import type { EventsResponse } from "../dashboard/event_log";
import { dashboardHtml, SCRIPT_SOURCE } from "../dashboard/dashboard_page";

/**
 * Response headers of the page: it loads nothing from elsewhere, runs only
 * its own inline script (allowed by hash), talks only to this origin, and
 * cannot be framed.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": `default-src 'none'; script-src ${SCRIPT_SOURCE}; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
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
 * Checks a login form's token (the monitoring token only: the dashboard is
 * for watching, and the admin token is not to be typed into a page) and
 * answers with a new session cookie. The request must come from the
 * dashboard's own page; an address that failed too often waits first.
 * @throws {RouterError} `permission_denied` for a cross-site request,
 *   `resource_exhausted` while the address must wait.
 * @throws {InvalidArgumentError} naming `token` when the body is malformed.
 * @throws {LoginRefusedError} (401) when the token is not the monitoring token.
 */
export function dashboardLogin(
  body: unknown,
  tokens: Tokens,
  request: LoginRequest,
  throttle: LoginThrottle,
): HttpResponse {
  requireSameOrigin(request);
  throttle.check(request.address);
  const { token } = parseBody(loginBody, body);
  if (tokens.monitoringToken === null)
    throw new LoginRefusedError(
      "no MONITORING_TOKEN is set: the dashboard needs no login",
    );
  const session = sessionFor(token, tokens);
  if (session === null) {
    throttle.failed(request.address);
    throw new LoginRefusedError("wrong token");
  }
  throttle.succeeded(request.address);
  return new HttpResponse(200, { ok: true }, undefined, {
    // Over HTTPS by the proxy's word or by the page's own origin.
    "Set-Cookie": sessionCookieHeader(
      session,
      request.https || originIsHttps(request.origin),
    ),
    "Cache-Control": "no-store",
  });
}

/** The dashboard page, its history and events JSON, and its login. */
export function dashboardRoutes(
  feeds: DashboardFeeds,
  tokens: Tokens,
  logins: LoginThrottle,
  /** Hides node addresses in texts from callers without a token (built per request: nodes change). */
  hiderFor: () => (text: string) => string,
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
      handle: async ({ body, https, client }) =>
        dashboardLogin(
          body,
          tokens,
          { https: https === true, address: "unknown", ...client },
          logins,
        ),
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
      handle: async ({ privileged }) =>
        eventsFor(feeds, privileged === true, hiderFor()),
    },
  ];
}

/** The events as a caller may see them: without a token, no node address in the texts. */
export function eventsFor(
  feeds: DashboardFeeds,
  privileged: boolean,
  hideHosts: (text: string) => string,
): EventsResponse {
  if (privileged) return feeds.events.snapshot(true);
  const { events } = feeds.events.snapshot(false);
  return {
    events: events.map((e) => ({ ...e, message: hideHosts(e.message) })),
  };
}

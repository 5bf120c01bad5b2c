import {
  type Authenticate,
  type Caller,
  UnauthenticatedError,
} from "../shared/auth/caller";
import http from "node:http";
import net from "node:net";
import {
  describePgError,
  HTTP_STATUS,
  type Logger,
  OverloadedError,
  type RequestContext,
  runWithRequestContext,
  toRouterError,
} from "../database/router/index";
import { checkAdminToken } from "../shared/http/admin_auth";
import {
  forwardedHttps,
  MONITORING_DENIED,
  monitoringAccess,
  type Tokens,
} from "../shared/http/monitoring_auth";
import { sessionsFromCookies } from "../shared/http/dashboard_session";
import {
  header,
  queryObject,
  BodyTooLargeError,
  MAX_BODY_BYTES,
  readJsonBody,
  sendError,
  sendJson,
  sendResponse,
  clientOf,
} from "./http_io";
import { compile, match } from "./route_table";
import { parseActorHeader } from "../shared/http/validation";
import { requestContextFromHeaders } from "../shared/http/router_headers";
import {
  requireJsonBody,
  UnsupportedMediaTypeError,
} from "../shared/http/json_body";
import {
  HttpResponse,
  type RouteDef,
  type RouteInput,
} from "../shared/http/route";

/** What the server needs besides its routes. */
export interface HttpServerOptions {
  routes: readonly RouteDef[];
  logger: Logger;
  /**
   * The admin token (null answers 403 "disabled" on every admin route), the
   * monitoring token (when set, monitoring routes but health need it; null =
   * open) and the key dashboard sessions are signed with.
   */
  tokens: Tokens;
  /** Who calls a domain (tenant) route; without it every tenant route answers 401. */
  authenticate?: Authenticate;
  /**
   * Called after a handler that wrote, to get the X-Consistency-Token value
   * (from the positions the request's writes brought; see `wantsToken`).
   */
  consistencyToken?: (
    cluster: string,
    ctx: RequestContext,
  ) => Promise<string | null>;
  /**
   * Called when a response has been sent (or the connection closed), with
   * whether the path was a domain API (`api`) or the service's own
   * monitoring/admin/metrics routes (`system`), the status and the seconds
   * from the request's arrival.
   */
  onRequestDone?: (
    kind: "api" | "system",
    status: number,
    seconds: number,
  ) => void;
  /** Longest a client may take to send its headers (ms); default 10 s. */
  headersTimeoutMs?: number;
}

/** The HTTP server plus a graceful stop. */
export interface DrainableServer extends http.Server {
  /** Requests being answered now. */
  inFlight(): number;
  /**
   * Stops accepting connections, answers requests already in flight or
   * arriving on open sockets (with `Connection: close`) for up to `drainMs`,
   * closing a socket early only once it has been idle for `idleCloseMs`
   * (default 2 s), then closes every socket.
   */
  shutdown(drainMs: number, idleCloseMs?: number): Promise<void>;
  /** More listeners on the same socket whose connections this server answers (closed by {@link shutdown} too). */
  adoptListeners(listeners: readonly net.Server[]): void;
}

/**
 * How long a keep-alive socket must have been idle before a drain closes it
 * (ms): ten times the longest a starved client was seen to take between an
 * answer and its next request on the same socket.
 */
const DRAIN_IDLE_CLOSE_MS = 2_000;

/**
 * The standalone front door: a plain Node HTTP server serving the same
 * routes, at the same paths, as the Encore `api()` declarations. Static path
 * segments win over parameters, as in Encore's router.
 */
export function createHttpServer(options: HttpServerOptions): DrainableServer {
  const table = compile(options.routes);
  let inFlight = 0;
  let closing = false;

  // Node checks the header and request timeouts every connectionsCheckingInterval
  // (30 s by default): a slow client was cut after up to 40 s, not 10.
  const server = http.createServer(
    { connectionsCheckingInterval: 1_000 },
    (req, res) => {
      inFlight++;
      const t0 = performance.now();
      res.on("close", () => {
        inFlight--;
        options.onRequestDone?.(
          req.url?.startsWith("/v1/system/") || req.url === "/metrics"
            ? "system"
            : "api",
          res.statusCode,
          (performance.now() - t0) / 1000,
        );
      });
      // While draining, answer what arrives on open keep-alive sockets but tell
      // the client not to reuse the socket, so no request races the close.
      if (closing) res.setHeader("Connection", "close");
      handle(req, res).catch((err: unknown) => {
        options.logger.error("unhandled error while answering a request", {
          error: describePgError(err),
        });
        if (!responseStarted(res))
          sendError(res, 500, "internal", "internal error");
      });
    },
  ) as DrainableServer;
  // Open sockets: requests in progress on each, and since when it has been
  // idle (none in progress), so a drain can leave the closing to clients.
  const sockets = new Map<net.Socket, { busy: number; idleSince: number }>();
  server.on("connection", (socket: net.Socket) => {
    sockets.set(socket, { busy: 0, idleSince: Date.now() });
    socket.once("close", () => sockets.delete(socket));
  });
  server.on(
    "request",
    (req: http.IncomingMessage, res: http.ServerResponse) => {
      const state = sockets.get(req.socket);
      if (state === undefined) return;
      // Pipelined requests overlap: idle only when none is in progress.
      state.busy++;
      res.once("close", () => {
        if (--state.busy === 0) state.idleSince = Date.now();
      });
    },
  );
  server.inFlight = () => inFlight;
  const extraListeners: net.Server[] = [];
  server.adoptListeners = (listeners) => {
    // Arriving after a shutdown began: they must not accept anything.
    if (closing) for (const l of listeners) l.close();
    else extraListeners.push(...listeners);
  };
  server.shutdown = async (drainMs, idleCloseMs = DRAIN_IDLE_CLOSE_MS) => {
    closing = true;
    // net.Server#close stops accepting without http.Server#close's extra step
    // of dropping idle keep-alive sockets, which races a client's next request
    // (ECONNRESET). Those sockets get one more answer, with Connection: close.
    const stopped = Promise.all(
      [server, ...extraListeners].map(
        (listener) =>
          new Promise<void>((resolve) =>
            net.Server.prototype.close.call(listener, () => resolve()),
          ),
      ),
    );
    const deadline = Date.now() + drainMs;
    // A busy client's next request gets its answer with Connection: close,
    // and the client closes the socket. A socket is closed by us only once
    // it has been idle for idleCloseMs: one that answered a moment ago may
    // already carry the client's next request, unread by a busy process, and
    // closing it would reset that request (ECONNRESET); one idle that long
    // is parked in a client's pool.
    for (;;) {
      const now = Date.now();
      for (const [socket, state] of sockets)
        if (state.busy === 0 && now - state.idleSince >= idleCloseMs)
          socket.destroy();
      if (inFlight === 0 && sockets.size === 0) break;
      if (now >= deadline) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    server.closeAllConnections();
    await stopped;
  };
  // `Expect: 100-continue` with a body over the limit: answer 413 at once
  // instead of inviting the upload (Node would send 100 by itself).
  server.on("checkContinue", (req, res) => {
    if (Number(req.headers["content-length"] ?? "0") > MAX_BODY_BYTES) {
      res.setHeader("Connection", "close");
      sendError(res, 413, "invalid_argument", new BodyTooLargeError().message);
      return;
    }
    res.writeContinue();
    server.emit("request", req, res);
  });
  // Slow clients must not hold connections forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = options.headersTimeoutMs ?? 10_000;
  server.keepAliveTimeout = 5_000;
  return server;

  async function handle(
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const found = match(table, method, url.pathname);
    if (found === undefined)
      return sendError(
        res,
        404,
        "not_found",
        `no route for ${method} ${url.pathname}`,
      );
    if ("allowed" in found) {
      res.setHeader("Allow", found.allowed.join(", "));
      return sendError(
        res,
        405,
        "invalid_argument",
        `method ${method} not allowed here; use ${found.allowed.join(", ")}`,
      );
    }
    const { route, params } = found;

    let privileged: boolean;
    if (route.admin === true) {
      const denied = checkAdminToken(
        req.headers.authorization,
        options.tokens.adminToken,
      );
      if (denied !== null)
        return sendError(res, denied.status, denied.code, denied.message);
      privileged = true;
    } else if (route.monitoring === true) {
      // Only monitoring routes pay for the token checks (API routes never show addresses).
      const access = monitoringAccess(
        {
          authorization: req.headers.authorization,
          sessions: sessionsFromCookies(req.headers.cookie),
        },
        options.tokens,
      );
      if (!access.allowed) {
        const page = route.whenDenied?.();
        if (page !== undefined) return sendResponse(res, page);
        return sendError(
          res,
          MONITORING_DENIED.status,
          MONITORING_DENIED.code,
          MONITORING_DENIED.message,
        );
      }
      privileged = access.privileged;
    } else privileged = false;

    // A domain route: the caller comes from its API key, and only from it.
    let caller: Caller | undefined;
    if (route.tenant === true) {
      try {
        caller =
          (await options.authenticate?.(req.headers.authorization)) ??
          undefined;
      } catch (err) {
        return sendFailure(res, err, route.endpoint);
      }
      if (caller === undefined)
        return sendFailure(res, new UnauthenticatedError(), route.endpoint);
    }

    let ctx: RequestContext;
    let input: RouteInput;
    try {
      ctx = requestContextFromHeaders(
        route.endpoint,
        {
          consistency: header(req, "x-consistency"),
          consistencyToken: header(req, "x-consistency-token"),
        },
        caller,
      );
      let body: unknown;
      if (method !== "GET" && method !== "DELETE") {
        requireJsonBody(
          header(req, "content-type"),
          Number(header(req, "content-length") ?? "0") > 0 ||
            req.headers["transfer-encoding"] !== undefined,
        );
        body = await readJsonBody(req);
      }
      const actor =
        route.admin === true
          ? parseActorHeader(header(req, "x-actor"))
          : undefined;
      input = {
        params,
        query: queryObject(url.searchParams),
        body,
        privileged,
        ...(caller !== undefined ? { caller } : {}),
        client: clientOf(req),
        https:
          (req.socket as { encrypted?: boolean }).encrypted === true ||
          forwardedHttps(header(req, "x-forwarded-proto")),
        ...(actor !== undefined ? { actor } : {}),
      };
    } catch (err) {
      return sendFailure(res, err, route.endpoint);
    }

    try {
      const result = await runWithRequestContext(ctx, () =>
        route.handle(input),
      );
      if (
        ctx.wroteCluster !== undefined &&
        options.consistencyToken !== undefined
      ) {
        const token = await options.consistencyToken(ctx.wroteCluster, ctx);
        if (token !== null) res.setHeader("X-Consistency-Token", token);
      }
      if (ctx.servedBy.length > 0)
        res.setHeader("X-Served-By", ctx.servedBy.join(","));
      if (result instanceof HttpResponse) {
        sendResponse(res, result);
      } else {
        sendJson(res, route.successStatus ?? 200, result ?? {});
      }
    } catch (err) {
      if (ctx.servedBy.length > 0 && !res.headersSent)
        res.setHeader("X-Served-By", ctx.servedBy.join(","));
      sendFailure(res, err, route.endpoint);
    }
  }

  function sendFailure(
    res: http.ServerResponse,
    err: unknown,
    endpoint: string,
  ): void {
    if (err instanceof UnsupportedMediaTypeError)
      return sendError(res, 415, err.code, err.message);
    if (err instanceof BodyTooLargeError) {
      // The rest of the body was read and dropped: the client can read this.
      return sendError(res, 413, err.code, err.message);
    }
    const known = toRouterError(err);
    if (known instanceof OverloadedError) {
      // Shed load: counted in /metrics (db_requests_shed_total), not logged per request.
      res.setHeader("Retry-After", String(known.retryAfterSeconds));
      return sendError(res, HTTP_STATUS[known.code], known.code, known.message);
    }
    if (known !== null) {
      if (known.code === "internal" || known.code === "unavailable") {
        options.logger.warn("request failed", {
          endpoint,
          code: known.code,
          error: known.message,
          // The caller's message names the kind of failure; the log the detail.
          ...(known.cause !== undefined
            ? { cause: describePgError(known.cause) }
            : {}),
        });
      }
      return sendError(res, HTTP_STATUS[known.code], known.code, known.message);
    }
    options.logger.error("request failed", {
      endpoint,
      error: describePgError(err),
    });
    sendError(res, 500, "internal", "internal error");
  }
}

function responseStarted(res: http.ServerResponse): boolean {
  return res.headersSent || res.writableEnded;
}

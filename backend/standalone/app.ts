import type http from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import type {
  Logger,
  RouterDeps,
  ServiceConfig,
} from "../database/router/index";
import { composeService, type Service } from "../database/service";
import { DOMAINS } from "../domains";
import type { Domain } from "../shared/domain";
import { serviceVersion } from "../shared/service_version";
import { createHttpServer } from "./http_server";
import {
  addAcceptHandles,
  EXTRA_ACCEPT_HANDLES,
  LISTEN_BACKLOG,
} from "./accept_handles";

/** The assembled standalone service: the composed service and its HTTP server. */
export interface App extends Pick<
  Service,
  "router" | "metrics" | "routes" | "control" | "feeds" | "keys"
> {
  readonly server: http.Server;
  /** Listens on 127.0.0.1-or-all at `port` (0 = any free port); resolves the bound port. */
  listen(port: number, host?: string): Promise<number>;
  /**
   * Graceful stop: refuse new connections, let requests in flight finish (up
   * to `drainMs`, default 8 s; keep-alive sockets idle for `idleCloseMs`,
   * default 2 s, are closed sooner), then close every pool. Idempotent.
   */
  close(drainMs?: number, idleCloseMs?: number): Promise<void>;
}

/** Composes the service with every domain, starts it, and wires the HTTP server. */
export async function createApp(
  config: ServiceConfig,
  deps: RouterDeps & {
    logger?: Logger;
    /** Dashboard history sampling; default 5 s (tests shorten it). */
    historyIntervalMs?: number;
    /** The domains to serve; default every one of backend/domains.ts. */
    domains?: readonly Domain[];
  } = {},
): Promise<App> {
  const { logger: given, historyIntervalMs, domains, ...routerDeps } = deps;
  const service = composeService(
    {
      config,
      ...(given !== undefined ? { logger: given } : {}),
      routerDeps,
      serviceVersion: serviceVersion(
        config.serviceVersion,
        () =>
          (
            JSON.parse(
              readFileSync(
                new URL("../../package.json", import.meta.url),
                "utf8",
              ),
            ) as { version?: string }
          ).version,
      ),
      ...(historyIntervalMs !== undefined ? { historyIntervalMs } : {}),
    },
    domains ?? DOMAINS,
  );
  await service.start();
  const { router, metrics, routes, control, feeds, logger } = service;
  const server = createHttpServer({
    routes,
    logger,
    tokens: service.tokens,
    authenticate: service.authenticate,
    consistencyToken: (cluster, ctx) => router.tokenAfterWrite(cluster, ctx),
    onRequestDone: (kind, status, seconds) =>
      metrics.onHttpRequest(kind, status, seconds),
  });
  let closing: Promise<void> | null = null;

  return {
    router,
    metrics,
    routes,
    control,
    feeds,
    keys: service.keys,
    server,
    listen: (port, host = "127.0.0.1") =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        // Node's default backlog (511) drops connection attempts of a burst of
        // clients, who then retry their SYN after 1, 3, 7 s: accept up to the
        // kernel's cap (net.core.somaxconn) instead.
        server.listen({ port, host, backlog: LISTEN_BACKLOG }, () =>
          resolve((server.address() as AddressInfo).port),
        );
      }).then(async (bound) => {
        // One accept per handle per loop turn (see accept_handles.ts): more
        // handles, so a busy service still takes new connections at once.
        // Each is adopted as it starts accepting: a shutdown that begins
        // while the helper finishes closes it too.
        await addAcceptHandles(server, EXTRA_ACCEPT_HANDLES, logger, (l) =>
          server.adoptListeners([l]),
        );
        return bound;
      }),
    close: (drainMs = 8_000, idleCloseMs?: number) =>
      (closing ??= (async () => {
        await server.shutdown(drainMs, idleCloseMs);
        await service.close();
      })()),
  };
}

import type http from "node:http";
import type { AddressInfo } from "node:net";
import { RouterMetrics } from "../database/metrics/router_metrics";
import {
  jsonLogger,
  type Logger,
  RedisStore,
  ReplicaRouter,
  type RouterDeps,
  type ServiceConfig,
} from "../database/router/index";
import type { RouteDef } from "../shared/http/route";
import { allRoutes } from "../app_routes";
import { createHttpServer } from "./http_server";
import {
  addAcceptHandles,
  EXTRA_ACCEPT_HANDLES,
  LISTEN_BACKLOG,
} from "./accept_handles";
import { createFleetControl } from "../database/control/create_fleet_control";
import type { FleetControl } from "../database/control/fleet_control";
import { readFileSync } from "node:fs";
import { DashboardFeeds } from "../database/dashboard/dashboard_feeds";
import { serviceVersion } from "../shared/service_version";

/** The assembled standalone service. */
export interface App {
  readonly router: ReplicaRouter;
  readonly metrics: RouterMetrics;
  readonly routes: readonly RouteDef[];
  /** The fleet control plane (admin changes shared by every instance). */
  readonly control: FleetControl;
  /** The dashboard's history and events. */
  readonly feeds: DashboardFeeds;
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

/** Builds the router, starts it, and wires the HTTP server. */
export async function createApp(
  config: ServiceConfig,
  deps: RouterDeps & {
    logger?: Logger;
    /** Dashboard history sampling; default 5 s (tests shorten it). */
    historyIntervalMs?: number;
  } = {},
): Promise<App> {
  const feeds = new DashboardFeeds(
    deps.historyIntervalMs !== undefined
      ? { historyIntervalMs: deps.historyIntervalMs }
      : {},
  );
  // Every line the router logs also feeds the dashboard's event list.
  const logger = feeds.events.tee(deps.logger ?? jsonLogger);
  const metrics = new RouterMetrics();
  const router = new ReplicaRouter(config.router, {
    observer: metrics,
    cacheObserver: metrics.cache,
    // REDIS_URL: the cache's shared tier, so every instance sees every write.
    ...(config.redisUrl !== null
      ? { sharedCache: new RedisStore(config.redisUrl) }
      : {}),
    ...deps,
    logger,
  });
  metrics.attach(router);
  await router.start();
  const control = createFleetControl(router, config, {
    logger,
    ...(deps.poolFactory !== undefined
      ? { poolFactory: deps.poolFactory }
      : {}),
    serviceVersion: serviceVersion(
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
  });
  await control.start();
  feeds.start(router);
  const routes = allRoutes({
    router,
    metrics,
    control,
    feeds,
    tokens: config,
  });
  const server = createHttpServer({
    routes,
    logger,
    adminToken: config.adminToken,
    monitoringToken: config.monitoringToken,
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
        feeds.stop();
        await control.close();
        await router.close();
      })()),
  };
}

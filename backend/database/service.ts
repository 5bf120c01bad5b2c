import { createFleetControl } from "./control/create_fleet_control";
import type { FleetControl } from "./control/fleet_control";
import { DashboardFeeds } from "./dashboard/dashboard_feeds";
import { databaseRoutes } from "./http/database_routes";
import { RouterMetrics } from "./metrics/router_metrics";
import {
  jsonLogger,
  type Logger,
  RedisStore,
  ReplicaRouter,
  type RouterDeps,
  type ServiceConfig,
} from "./router/index";
import { buildEndpoints, type Domain, type Endpoints } from "../shared/domain";
import { CursorCodec } from "../shared/http/cursor";
import type { RouteDef } from "../shared/http/route";
import { ApiKeyStore } from "../shared/auth/key_store";
import { type Authenticate, authenticator } from "../shared/auth/caller";
import type { Tokens } from "../shared/http/monitoring_auth";
import { randomSessionSecret } from "../shared/http/dashboard_session";
import { LoginThrottle } from "../shared/http/login_guard";

/** What {@link composeService} builds the service from. */
export interface ServiceParts {
  readonly config: ServiceConfig;
  /** Where the service logs; default JSON lines on stderr. The dashboard's event list sees every line too. */
  readonly logger?: Logger;
  /**
   * The router's collaborators (pool factory, probe, clock, shared cache).
   * Default shared cache: Redis when REDIS_URL is set, else none.
   */
  readonly routerDeps?: Omit<
    RouterDeps,
    "logger" | "observer" | "cacheObserver"
  >;
  /** Signs list cursors; default keyed by CURSOR_SECRET ({@link CursorCodec.fromSetting}). */
  readonly codec?: CursorCodec;
  /** What this instance reports in its fleet heartbeat. */
  readonly serviceVersion: string;
  /** Dashboard history sampling; default 5 s (tests shorten it). */
  readonly historyIntervalMs?: number;
}

/** The assembled service: the router, what watches and steers it, and every route. */
export interface Service {
  readonly config: ServiceConfig;
  /** The logger every part uses (teed into the dashboard's events). */
  readonly logger: Logger;
  readonly router: ReplicaRouter;
  readonly metrics: RouterMetrics;
  /** The fleet control plane (admin changes shared by every instance). */
  readonly control: FleetControl;
  /** The dashboard's history and events. */
  readonly feeds: DashboardFeeds;
  /** API keys of the domain endpoints (issued and revoked through the admin API). */
  readonly keys: ApiKeyStore;
  /** Who calls a domain endpoint, from its Authorization header (AUTH). */
  readonly authenticate: Authenticate;
  /** The monitoring and admin tokens, and the key dashboard sessions are signed with. */
  readonly tokens: Tokens;
  /** Failed dashboard logins, per address. */
  readonly logins: LoginThrottle;
  /** The database service's routes, then each mounted domain's, in mount order. */
  readonly routes: readonly RouteDef[];
  /**
   * Builds `domain`'s endpoints on this service's router and serves them:
   * they join {@link routes}, and the admin switches know their names.
   * Returns the typed handlers (an Encore `api.ts` calls them).
   *
   * @throws {Error} when a domain of that name is already mounted, or an endpoint is misnamed.
   */
  mount<E extends Endpoints>(domain: Domain<E>): E;
  /** Starts the router (first health check and lag sample), then the control plane, then the dashboard feeds. Idempotent. */
  start(): Promise<void>;
  /** Stops the feeds, the control plane and the router's pools. Idempotent. */
  close(): Promise<void>;
}

/**
 * The one composition root: both front doors build the service here, the
 * standalone server with every domain of backend/domains.ts, the Encore
 * database service with none (each Encore service mounts its own domain
 * from its `api.ts`, as Encore loads it). Nothing starts until
 * {@link Service.start}.
 */
export function composeService(
  parts: ServiceParts,
  domains: readonly Domain[] = [],
): Service {
  const { config } = parts;
  const feeds = new DashboardFeeds(
    parts.historyIntervalMs !== undefined
      ? { historyIntervalMs: parts.historyIntervalMs }
      : {},
  );
  // Every line the router logs also feeds the dashboard's event list.
  const logger = feeds.events.tee(parts.logger ?? jsonLogger);
  const metrics = new RouterMetrics();
  const routerDeps = parts.routerDeps ?? {};
  const router = new ReplicaRouter(config.router, {
    observer: metrics,
    cacheObserver: metrics.cache,
    // REDIS_URL: the cache's shared tier, so every instance sees every write.
    ...(config.redisUrl !== null && routerDeps.sharedCache === undefined
      ? { sharedCache: new RedisStore(config.redisUrl) }
      : {}),
    ...routerDeps,
    logger,
  });
  metrics.attach(router.roles);
  const control = createFleetControl(router.roles, config, {
    logger,
    ...(routerDeps.poolFactory !== undefined
      ? { poolFactory: routerDeps.poolFactory }
      : {}),
    serviceVersion: parts.serviceVersion,
  });
  const codec = parts.codec ?? CursorCodec.fromSetting(config.cursorSecret);

  // The services served here: the database service's own, then each mounted domain.
  const mounted = new Set<string>(["database"]);
  const endpointNames = new Set<string>();
  const known = { services: mounted, endpoints: endpointNames };
  // Without SESSION_SECRET, sessions last as long as this process, on this instance.
  if (config.sessionSecret === null && config.monitoringToken !== null)
    logger.warn(
      "SESSION_SECRET is not set: dashboard logins last until this process restarts and hold on this instance only",
    );
  const tokens: Tokens = {
    monitoringToken: config.monitoringToken,
    adminToken: config.adminToken,
    sessionSecret: config.sessionSecret ?? randomSessionSecret(),
  };
  const logins = new LoginThrottle();
  const keys = new ApiKeyStore(router, {
    cacheTtlMs: config.auth.keyCacheTtlMs,
    logger,
  });
  const routes: RouteDef[] = databaseRoutes(
    { router: router.roles, metrics, control, feeds, tokens, logins, keys },
    () => known,
  );
  for (const r of routes) endpointNames.add(r.endpoint);

  const mount = <E extends Endpoints>(domain: Domain<E>): E => {
    if (mounted.has(domain.name))
      throw new Error(`domain ${domain.name} is mounted twice`);
    const endpoints = buildEndpoints(domain, { router, codec });
    mounted.add(domain.name);
    for (const route of Object.values(endpoints)) {
      routes.push(route);
      endpointNames.add(route.endpoint);
    }
    return endpoints;
  };
  for (const domain of domains) mount(domain);

  let started: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  return {
    config,
    logger,
    router,
    metrics,
    control,
    feeds,
    keys,
    authenticate: authenticator(config.auth.mode, keys),
    tokens,
    logins,
    routes,
    mount,
    start: () =>
      (started ??= (async () => {
        await router.start();
        await control.start();
        feeds.start(router.roles);
      })()),
    close: () =>
      (closed ??= (async () => {
        feeds.stop();
        await control.close();
        await router.close();
      })()),
  };
}

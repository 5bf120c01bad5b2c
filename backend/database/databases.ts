/**
 * Encore edge: declares the primary and three replica databases and builds
 * the process-wide ReplicaRouter from their connection strings.
 *
 * - Self-hosted (`encore build docker --config infra.config.json`): each
 *   `replica_N` key in infra.config.json points at a streaming replica of the
 *   primary (see docs/provisioning.md), and reads are balanced across them.
 * - `encore run` / `encore test` / Encore Cloud: Encore creates each replica
 *   as an empty, independent database. The router's health probe sees it is
 *   not in recovery, reports it `not_a_replica` in the status endpoint, and
 *   every read goes to the primary: nothing fails, nothing reads empty tables.
 *
 * More replicas than three come from the `ReplicaUrls` secret (or, when it is
 * empty, the READ_REPLICA_URLS environment variable), appended after the
 * declared ones. The admin token comes from the `AdminToken` secret (else
 * ADMIN_TOKEN), the cursor-signing key from `CursorSecret` (else
 * CURSOR_SECRET); see encore/settings.ts.
 */
import { secret } from "encore.dev/config";
import {
  SQLDatabase,
  type Primitive as EncorePrimitive,
} from "encore.dev/storage/sqldb";
import { allRoutes } from "../app_routes";
import { CursorCodec } from "../shared/http/cursor";
import type { RouteDef } from "../shared/http/route";
import { EncoreCacheStore, queryCacheKeyspaces } from "./encore/cache_store";
import { startEncoreMetrics } from "./encore/metrics";
import { encoreEnvironment } from "./encore/settings";
import { RouterMetrics } from "./metrics/router_metrics";
import {
  createPgPool,
  createPgPoolSettingSessionOnConnect,
  jsonLogger,
  loadConfig,
  type PoolFactory,
  type Primitive,
  probeConnection,
  ReplicaRouter,
} from "./router/index";
import { createFleetControl } from "./control/create_fleet_control";
import { DashboardFeeds } from "./dashboard/dashboard_feeds";
import { appMeta } from "encore.dev";
import { serviceVersion } from "../shared/service_version";

/**
 * The primary, with the finance migrations (applied by Encore). The path is
 * local and relative: Encore's parser refuses ".." (`LocalRelPath`,
 * tsparser/litparser/src/lib.rs), so the files live beside this declaration.
 */
export const primaryDb = new SQLDatabase("primary", {
  migrations: "./migrations",
});
// Replicas: declared without migrations, they hold whatever the primary replicates.
export const replica1 = new SQLDatabase("replica_1");
export const replica2 = new SQLDatabase("replica_2");
export const replica3 = new SQLDatabase("replica_3");

/** Admin bearer token; `disabled` turns the admin API off. */
const adminTokenSecret = secret("AdminToken");
/** Replicas beyond replica_1..3: a JSON array or comma list of postgres:// URLs; `[]` for none. */
const replicaUrlsSecret = secret("ReplicaUrls");
/** Monitoring endpoints' bearer token (>= 16 characters), or `open` for none. */
const monitoringTokenSecret = secret("MonitoringToken");
/** Signs pagination cursors; the same value on every instance (>= 16 characters). */
const cursorSecret = secret("CursorSecret");

// Compile-time check that the core's Primitive is Encore's, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const primitivesAgree: Same<Primitive, EncorePrimitive> = true;
void primitivesAgree;

/** Connection strings of the declared databases: URLs of Encore's local proxy. */
const declared = {
  primaryUrl: primaryDb.connectionString,
  // Each database by member access: Encore's usage parser refuses a
  // database inside an array literal (tsparser/src/parser/usageparser/mod.rs).
  replicaUrls: [
    replica1.connectionString,
    replica2.connectionString,
    replica3.connectionString,
  ],
};
const proxyUrls = new Set([declared.primaryUrl, ...declared.replicaUrls]);

const config = loadConfig(
  encoreEnvironment(
    process.env,
    {
      adminToken: readSecret(adminTokenSecret, "AdminToken"),
      replicaUrls: readSecret(replicaUrlsSecret, "ReplicaUrls"),
      monitoringToken: readSecret(monitoringTokenSecret, "MonitoringToken"),
    },
    declared,
  ),
);

/**
 * Encore's database proxy drops startup parameters, so on its URLs
 * statement_timeout and application_name are set on each new connection
 * instead (runtimes/core/src/sqldb/manager.rs; see pg_pool.ts). Replicas
 * from ReplicaUrls are reached directly (perhaps through PgBouncer in
 * transaction mode, where session settings would not stick) and keep
 * startup parameters.
 */
const poolFactory: PoolFactory = (url, limits, applicationName) =>
  (proxyUrls.has(url) ? createPgPoolSettingSessionOnConnect : createPgPool)(
    url,
    limits,
    applicationName,
  );

/** Prometheus metrics of the router, served by the `/metrics` endpoint. */
export const metrics = new RouterMetrics();

/** The dashboard's history and events; the router logs through its event log. */
export const feeds = new DashboardFeeds();
const logger = feeds.events.tee(jsonLogger);

/** The router every Encore endpoint of this app uses. */
export const router = new ReplicaRouter(config.router, {
  logger,
  observer: metrics,
  cacheObserver: metrics.cache,
  poolFactory,
  probe: probeConnection,
  // The query cache's shared tier: Encore's cache cluster (in memory under
  // `encore run`; infra.config.json's redis["query-cache"] when self-hosted).
  sharedCache: new EncoreCacheStore(queryCacheKeyspaces),
});
metrics.attach(router);
// The same figures through encore.dev/metrics, for Encore Cloud's dashboards.
startEncoreMetrics(metrics);

/** Settings of this process that are not the router's (admin token). */
export const serviceConfig = config;

/**
 * The fleet control plane: admin changes stored on the primary and followed
 * by every instance. LISTEN works through Encore's proxies: the runtime's
 * proxy pins one backend connection per client and copies bytes both ways
 * after the handshake (`ProxyManager::handle_conn` / `proxy_data` in
 * encoredev/rust-postgres, tokio-postgres/src/proxy/mod.rs), and the
 * `encore run` daemon's proxy relays NotificationResponse messages
 * (`pgproxy.CopySteadyState`, pkg/pgproxy/pgproxy.go). The version poll
 * covers a LISTEN connection that drops all the same.
 */
export const control = createFleetControl(router, config, {
  logger,
  poolFactory,
  serviceVersion: serviceVersion(() => appMeta().build.revision),
});

/** Resolves once the first health check and lag sample are done and the control state is applied. */
export const routerReady: Promise<void> = router
  .start()
  .then(() => control.start())
  .then(() => feeds.start(router));

/**
 * The service's route table (the one the standalone server serves), by
 * endpoint name: each Encore endpoint dispatches to its entry.
 */
export const routes: ReadonlyMap<string, RouteDef> = new Map(
  allRoutes({
    router,
    metrics,
    control,
    feeds,
    tokens: config,
    codec: CursorCodec.fromSecretOrEnv(
      readSecret(cursorSecret, "CursorSecret"),
    ),
  }).map((r) => [r.endpoint, r] as const),
);

/**
 * A secret's value, `""` when it has none. Locally Encore already returns
 * `""`; elsewhere it throws "secret X is not set" (encore.dev/config/secrets.ts),
 * which here means "not configured", as an unset variable does standalone,
 * and is logged (the name only, never a value) so a missing secret on a
 * deployed instance is visible.
 */
export function readSecret(read: () => string, name: string): string {
  try {
    return read();
  } catch (err) {
    jsonLogger.warn(
      "secret not readable; falling back to the environment variable",
      {
        secret: name,
        error: err instanceof Error ? err.message.slice(0, 120) : "unknown",
      },
    );
    return "";
  }
}

/**
 * Encore edge: the process-wide service of this Encore app, composed once
 * by the one composition root (database/service.ts) from the declared
 * databases and the secrets. The database service's own endpoints
 * (monitoring_api.ts) serve its routes; each domain service mounts its
 * domain from its `api.ts` (see bridge.ts, `mount`).
 *
 * More replicas than three come from the `ReplicaUrls` secret (or, when it is
 * empty, the READ_REPLICA_URLS environment variable), appended after the
 * declared ones. The admin token comes from the `AdminToken` secret (else
 * ADMIN_TOKEN), the cursor-signing key from `CursorSecret` (else
 * CURSOR_SECRET); see settings.ts.
 */
import { appMeta } from "encore.dev";
import { secret } from "encore.dev/config";
import type { Primitive as EncorePrimitive } from "encore.dev/storage/sqldb";
import { primaryDb, replica1, replica2, replica3 } from "../databases";
import { composeService } from "../service";
import {
  ConfigError,
  createPgPool,
  createPgPoolSettingSessionOnConnect,
  jsonLogger,
  loadConfig,
  type PoolFactory,
  type Primitive,
  probeConnection,
} from "../router/index";
import { CursorCodec } from "../../shared/http/cursor";
import { serviceVersion } from "../../shared/service_version";
import { EncoreCacheStore, queryCacheKeyspaces } from "./cache_store";
import { startEncoreMetrics } from "./metrics";
import { encoreEnvironment } from "./settings";

/** Admin bearer token; `disabled` turns the admin API off. */
const adminTokenSecret = secret("AdminToken");
/** Replicas beyond replica_1..3: a JSON array or comma list of postgres:// URLs; `[]` for none. */
const replicaUrlsSecret = secret("ReplicaUrls");
/** Monitoring endpoints' bearer token (>= 16 characters), or `open` for none. */
const monitoringTokenSecret = secret("MonitoringToken");
/** Signs pagination cursors; the same value on every instance (>= 16 characters). */
const cursorSecret = secret("CursorSecret");
/** Signs the dashboard's session cookies; the same value on every instance (>= 16 characters). */
const sessionSecret = secret("SessionSecret");

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

const cursorSecretValue = readSecret(cursorSecret, "CursorSecret");
const environment = encoreEnvironment(
  process.env,
  {
    adminToken: readSecret(adminTokenSecret, "AdminToken"),
    replicaUrls: readSecret(replicaUrlsSecret, "ReplicaUrls"),
    monitoringToken: readSecret(monitoringTokenSecret, "MonitoringToken"),
  },
  declared,
);
// A CursorSecret with a value wins: the variable is then not read at all,
// so a leftover CURSOR_SECRET cannot stop the start.
if (cursorSecretValue !== "") delete environment.CURSOR_SECRET;
// The same for SessionSecret: a value wins over SESSION_SECRET.
const sessionSecretValue = readSecret(sessionSecret, "SessionSecret");
if (sessionSecretValue !== "") environment.SESSION_SECRET = sessionSecretValue;
// Encore's gateway answers 401 itself to an `auth: true` endpoint called
// without credentials (runtimes/core/src/api/auth/mod.rs), so AUTH=off
// could not reach the handlers: refuse it rather than seem to honour it.
if ((environment.AUTH ?? "").trim() === "off")
  throw new ConfigError([
    "AUTH: `off` is for the standalone server only; under Encore issue an API key (docs/security.md)",
  ]);
const config = loadConfig(environment);

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

/**
 * The service every Encore endpoint of this app uses. The fleet control
 * plane's LISTEN works through Encore's proxies: the runtime's proxy pins
 * one backend connection per client and copies bytes both ways after the
 * handshake (`ProxyManager::handle_conn` / `proxy_data` in
 * encoredev/rust-postgres, tokio-postgres/src/proxy/mod.rs), and the
 * `encore run` daemon's proxy relays NotificationResponse messages
 * (`pgproxy.CopySteadyState`, pkg/pgproxy/pgproxy.go). The version poll
 * covers a LISTEN connection that drops all the same.
 */
export const service = composeService({
  config,
  logger: jsonLogger,
  routerDeps: {
    poolFactory,
    probe: probeConnection,
    // The query cache's shared tier: Encore's cache cluster (in memory under
    // `encore run`; infra.config.json's redis["query-cache"] when self-hosted).
    sharedCache: new EncoreCacheStore(queryCacheKeyspaces),
  },
  codec: CursorCodec.fromSecretOrSetting(
    cursorSecretValue,
    config.cursorSecret,
  ),
  serviceVersion: serviceVersion(
    config.serviceVersion,
    () => appMeta().build.revision,
  ),
});
// The same figures through encore.dev/metrics, for Encore Cloud's dashboards.
startEncoreMetrics(service.metrics);

/** Resolves once the first health check and lag sample are done and the control state is applied. */
export const serviceReady: Promise<void> = service.start();

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

import {
  createPgPool,
  type Logger,
  type PoolFactory,
  type RouterRoles,
  type ServiceConfig,
} from "../router/index";
import { PgControlStore, type ControlStore } from "./control_store";
import { MemoryControlStore } from "./memory_control_store";
import { FleetControl } from "./fleet_control";

/**
 * Connections of the control plane's own pool on the main primary: one held
 * for LISTEN, one for the version check and heartbeat, one for an admin
 * change. Apart from the router's pools, so control traffic never waits
 * behind application queries and never counts in their statistics.
 */
const CONTROL_POOL_SIZE = 3;

/** Longest wait of a control statement, or for a connection to run it on. */
const CONTROL_TIMEOUT_MS = 5_000;

/**
 * The fleet control plane of `router` as FLEET_CONTROL says: on the main
 * cluster's primary (default) or in this process only.
 */
export function createFleetControl(
  router: RouterRoles,
  config: ServiceConfig,
  deps: {
    logger: Logger;
    /** As the router's; default {@link createPgPool}. */
    poolFactory?: PoolFactory;
    serviceVersion: string;
  },
): FleetControl {
  const { fleet } = config;
  let store: ControlStore;
  if (fleet.mode === "local") {
    store = new MemoryControlStore();
  } else {
    const main = config.router.clusters[0]!;
    const pool = (deps.poolFactory ?? createPgPool)(
      main.primaryUrl,
      {
        ...config.router.pool,
        maxConnections: CONTROL_POOL_SIZE,
        minConnections: 0,
        // Fail fast: a change is refused with 503 rather than held for DB_CONNECTION_TIMEOUT (30 s).
        connectionTimeoutMs: Math.min(
          config.router.pool.connectionTimeoutMs,
          CONTROL_TIMEOUT_MS,
        ),
        queryTimeoutMs: Math.min(
          config.router.pool.queryTimeoutMs,
          CONTROL_TIMEOUT_MS,
        ),
      },
      `${config.router.pool.applicationName}:control`,
    );
    // An idle connection of the pool that dies (primary restart) must not crash the process.
    pool.on("error", () => {});
    store = new PgControlStore(pool, fleet.name);
  }
  return new FleetControl({
    router,
    store,
    config: fleet,
    logger: deps.logger,
    serviceVersion: deps.serviceVersion,
  });
}

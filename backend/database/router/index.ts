/**
 * The core's one entry point: everything domain services, the Encore
 * declarations and the standalone server may use of the router. Code under
 * `backend/` but outside `backend/database/router/` imports the core only
 * from here (test/unit/core_entry_point.test.ts); code inside never does.
 * Tests and benchmarks may reach inner modules: they test them.
 */

// The router, its configuration and its construction.
export { ReplicaRouter } from "./replica_router";
export type { RouterDeps } from "./router_deps";
export type {
  CircuitControl,
  ReadSwitches,
  RouterMembership,
  RouterRoles,
  RouterStatusView,
  RouterSwitches,
} from "./roles";
export { loadConfig } from "./config/load_config";
export { ConfigError, isPostgresUrl, MAIN_CLUSTER } from "./config/config";
export type { FleetConfig, ServiceConfig } from "./config/config";
export { ZONE_RE } from "./config/zones";

// Connections and queries, for repositories.
export type {
  DatabaseRouter,
  ReadConnection,
  ReadOptions,
  WriteConnection,
} from "./connections";
export type { Primitive, QueryApi, Row } from "./base/query_api";

// Consistency and the request context, for the front doors.
export { parseConsistencyHeader, parseToken } from "./consistency/consistency";
export type { Consistency } from "./consistency/consistency";
export {
  runWithRequestContext,
  type RequestContext,
} from "./base/request_context";

// Errors and what a front door answers for them.
export {
  ConnectionCapExceededError,
  HTTP_STATUS,
  InvalidArgumentError,
  NotFoundError,
  OverloadedError,
  RouterError,
  type RouterErrorCode,
} from "./base/errors";
export {
  classifyPgError,
  describePgError,
  failureCategory,
  toRouterError,
} from "./base/pg_errors";

// The query cache: what a cached read is, and its shared tiers.
export type { JsonSafe } from "./cache/cache_entry";
export type {
  CachedRead,
  CacheObserver,
  CacheOutcome,
  CacheStatus,
  SkipReason,
} from "./cache/cache_types";
export type { SharedStore } from "./cache/shared_store";
export { RedisStore } from "./cache/redis_store";

// Connection pools, for the composition roots and the fleet control plane.
export {
  createPgPool,
  createPgPoolSettingSessionOnConnect,
  describeAddress,
  probeConnection,
  type PgClient,
  type PgPool,
  type PoolFactory,
} from "./nodes/pg_pool";

// What monitoring, metrics and fleet control read.
export type { ReadFailureOutcome, RouterObserver } from "./observer";
export type { RouteReason } from "./read_planner";
export type { DbNode } from "./nodes/db_node";
export type { PoolStats } from "./nodes/node_types";
export type { ReplicaNode } from "./nodes/replica_node";
export type { NodeCluster } from "./nodes/node_cluster";
export type { CircuitStateName } from "./health/circuit_breaker";
export type { AddReplicaOptions } from "./topology/membership";
export { formatLsn } from "./lag/lag_tracker";

// Logging and small helpers.
export { jsonLogger, silentLogger, type Logger } from "./support/logger";
export { PeriodicTasks } from "./support/periodic_tasks";
export { withTimeout } from "./support/timeout";

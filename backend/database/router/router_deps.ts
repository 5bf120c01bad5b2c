import type { CacheObserver } from "./cache/cache_types";
import type { SharedStore } from "./cache/shared_store";
import type { ProbeFn } from "./topology/node_factory";
import type { PoolFactory } from "./nodes/pg_pool";
import type { RouterObserver } from "./observer";
import type { Clock } from "./support/clock";
import type { Logger } from "./support/logger";

/** Injected dependencies; all optional. */
export interface RouterDeps {
  clock?: Clock;
  poolFactory?: PoolFactory;
  /** Where the router logs; absent, it logs nothing (both front doors pass the JSON logger). */
  logger?: Logger;
  observer?: RouterObserver;
  /** Hooks for the query cache's metrics. */
  cacheObserver?: CacheObserver;
  /**
   * Liveness probe on a connection of its own, for the stall watch. Default:
   * `probeConnection` (nodes/pg_pool.ts) when the default pool factory is used; with an
   * injected factory (fakes in tests) the node's pool is probed instead,
   * unless a probe is given too.
   */
  probe?: ProbeFn;
  /** The query cache's shared tier (Redis, Encore's cache); absent = in-process only. */
  sharedCache?: SharedStore;
}

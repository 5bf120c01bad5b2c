import type { CacheConfig } from "../config/config";
import type { Clock } from "../support/clock";
import type { Logger } from "../support/logger";
import { clusterGenKey } from "./cache_keys";
import { GuardedStore } from "./guarded_store";
import type { CacheObserver } from "./cache_types";
import { QueryCache } from "./query_cache";
import { GENERATION_TTL_MS } from "./scope_versions";
import type { SharedStore } from "./shared_store";

/** Consecutive failures or timeouts of the shared tier that open its breaker. */
const SHARED_FAILURE_THRESHOLD = 3;
/** How long the shared tier is left alone once its breaker opened. */
const SHARED_OPEN_MS = 5_000;

/**
 * The query cache with its shared tier (when one is given) behind a
 * {@link GuardedStore}: bounded calls, a breaker, epochs bumped (and
 * fenced) after lost invalidations, in-process copies dropped when the
 * shared tier reconnects.
 */
export function createQueryCache(
  config: CacheConfig,
  deps: {
    readonly sharedStore: SharedStore | undefined;
    readonly clock: Clock;
    readonly logger: Logger;
    readonly observer: CacheObserver;
    readonly clusters: () => readonly string[];
    readonly currentLsn: (cluster: string) => Promise<bigint | null>;
  },
): QueryCache {
  const { sharedStore, clock, logger } = deps;
  let cache: QueryCache | undefined;
  const shared =
    sharedStore === undefined
      ? null
      : new GuardedStore(sharedStore, {
          timeoutMs: config.timeoutMs,
          failureThreshold: SHARED_FAILURE_THRESHOLD,
          openDurationMs: SHARED_OPEN_MS,
          clock,
          logger,
          epochKeys: () => deps.clusters().map(clusterGenKey),
          generationTtlMs: GENERATION_TTL_MS,
          onRecovered: (keys, gens) => void cache?.fenceEpochs(keys, gens),
        });
  cache = new QueryCache(config, { ...deps, shared });
  // A reconnected Redis may have restarted from a snapshot, with older
  // generations: forget the local copies and move every epoch past them.
  sharedStore?.onReconnect?.(() => {
    cache.forgetLocal();
    void cache.resetEpochs();
  });
  return cache;
}

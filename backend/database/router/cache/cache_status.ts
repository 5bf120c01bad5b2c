import type { CacheStatus, CacheTierStatus, SharedTier } from "./cache_types";
import type { LocalEntries } from "./memory_store";

/**
 * The cache as the status endpoint shows it: the switches, the in-process
 * tier's size, and the shared tier's breaker and lost invalidations as its
 * state. Never a URL or a value.
 */
export function cacheStatus(
  enabled: boolean,
  disabledEndpoints: ReadonlySet<string>,
  tiers: {
    readonly entries: LocalEntries;
    readonly maxBytes: number;
    readonly shared: SharedTier | null;
  },
): CacheStatus {
  const shown: CacheTierStatus[] = [
    {
      name: "memory",
      state: "ok",
      entries: tiers.entries.size,
      bytes: tiers.entries.bytes,
      maxBytes: tiers.maxBytes,
    },
  ];
  if (tiers.shared !== null) {
    const s = tiers.shared.state();
    shown.push({
      name: s.name,
      state: s.invalidationLost
        ? "recovering"
        : s.breaker === "closed"
          ? "ok"
          : s.breaker,
      breaker: s.breaker,
      lastError: s.lastError,
    });
  }
  return {
    enabled,
    disabledEndpoints: [...disabledEndpoints].sort(),
    tiers: shown,
  };
}

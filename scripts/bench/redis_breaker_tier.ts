/**
 * The Redis tier's state as the router's status shows it ("ok", "open",
 * "half_open", "recovering"), polled every 5 ms while the redis_breaker
 * scenario runs, so its figures can tell "the breaker opened" from "the
 * tier was already out of use" (under CPU contention, Redis calls can pass
 * CACHE_TIMEOUT and trip the breaker with Redis up).
 */
import { performance } from "node:perf_hooks";
import type { ReplicaRouter } from "../../backend/database/router/replica_router";

/** A polled history of the tier's state. */
export interface TierTrack {
  /** Stops polling; idempotent. */
  stop(): void;
  /** The state last seen at or before `t` (performance.now()). */
  stateAt(t: number): string;
  /**
   * ms from `from` until the tier was first seen not "ok" (0 when it
   * already was not at `from`); NaN when it stayed "ok" until `to`.
   */
  outOfUseAfter(from: number, to: number): number;
}

/** Starts polling `router`'s Redis tier state. */
export function trackTier(router: ReplicaRouter): TierTrack {
  const seen: { t: number; state: string }[] = [];
  const poll = () => {
    const tier = router.cache.status().tiers.find((x) => x.name === "redis");
    const state = tier?.state ?? "none";
    if (seen.at(-1)?.state !== state)
      seen.push({ t: performance.now(), state });
  };
  poll();
  const timer = setInterval(poll, 5);
  const stateAt = (t: number) =>
    seen.filter((s) => s.t <= t).at(-1)?.state ?? "none";
  return {
    stop: () => clearInterval(timer),
    stateAt,
    outOfUseAfter(from, to) {
      if (stateAt(from) !== "ok") return 0;
      const next = seen.find(
        (s) => s.t > from && s.t <= to && s.state !== "ok",
      );
      return next === undefined ? NaN : next.t - from;
    },
  };
}

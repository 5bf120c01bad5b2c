import type { StrategyName } from "../config/config";
import { LeastConnectionsSelector } from "./least_connections_selector";
import { LowestLagSelector } from "./lowest_lag_selector";
import type { ReplicaSelector } from "./replica_selector";
import { RoundRobinSelector } from "./round_robin_selector";
import { WeightedSelector } from "./weighted_selector";

/** A new selector for `strategy` (each cluster gets its own, so turns don't mix). */
export function createSelector(strategy: StrategyName): ReplicaSelector {
  switch (strategy) {
    case "round-robin":
      return new RoundRobinSelector();
    case "weighted":
      return new WeightedSelector();
    case "least-connections":
      return new LeastConnectionsSelector();
    case "lowest-lag":
      return new LowestLagSelector();
  }
}

import type { Clock } from "../support/clock";
import type { LagThresholds } from "../lag/lag_tracker";

/** Why a node is or is not serving, as the status endpoint shows it. */
export type NodeState =
  | "healthy"
  | "lagging"
  | "unhealthy"
  | "circuit_open"
  | "not_a_replica"
  | "disabled";

/** Pool numbers as the monitoring endpoints show them. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
  max: number;
}

/** A replica taken out of rotation for silence (see {@link DbNode.stall}). */
export interface Stall {
  sinceMs: number;
  reason: string;
  confirmed: boolean;
}

/** Options every node of a router shares. */
export interface NodeOptions {
  readonly clock: Clock;
  readonly failureThreshold: number;
  readonly breakerOpenDurationMs: number;
  readonly breakerSuccessThreshold: number;
  readonly lagThresholds: LagThresholds;
  readonly maxConnections: number;
  /** Request-path statements that may wait for a connection (DB_POOL_QUEUE_MAX). */
  readonly queueMax: number;
  /** Longest such wait in ms (DB_POOL_QUEUE_TIMEOUT). */
  readonly queueTimeoutMs: number;
}

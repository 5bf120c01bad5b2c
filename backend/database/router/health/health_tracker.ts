import { Listeners } from "../support/listeners";
import { type Clock, systemClock } from "../support/clock";
import { ConsecutiveFailures } from "./consecutive_failures";

/**
 * What the tracker believes about a node:
 * - `healthy`: the last probe proved it is what its role says.
 * - `unhealthy`: `failureThreshold` probes/queries in a row failed, or a primary is in recovery.
 * - `not_a_replica`: reachable, but not a replica of this primary (never route reads to it).
 * - `unknown`: nothing conclusive yet.
 */
export type HealthVerdict =
  "healthy" | "unhealthy" | "not_a_replica" | "unknown";

/** Outcome of one active probe (`SELECT pg_is_in_recovery(), system_identifier ...`). */
export interface ProbeResult {
  /** The probe query completed. */
  ok: boolean;
  /** `pg_is_in_recovery()`; a probe that completes without it proves nothing and counts as a failure. */
  inRecovery?: boolean;
  /** `pg_control_system().system_identifier`, as text. */
  systemIdentifier?: string;
  /** Why the probe failed, when `ok` is false. */
  error?: string;
}

/** Options of {@link HealthTracker}. */
export interface HealthTrackerOptions {
  /** Node name, carried on events. */
  node: string;
  /** What the node is supposed to be. */
  role: "primary" | "replica";
  /** Consecutive failures before `unhealthy`; positive integer, default 3 (`REPLICA_FAILURE_THRESHOLD`). */
  failureThreshold?: number;
  /** Source of time; default {@link systemClock}. */
  clock?: Clock;
}

/** A read-only copy of the tracker's state. */
export interface HealthSnapshot {
  verdict: HealthVerdict;
  consecutiveFailures: number;
  /** Clock time of the last probe or passive failure, ms since the epoch. */
  lastCheckAtMs: number | null;
  /** Clock time of the last probe that proved the node healthy, ms since the epoch. */
  lastSuccessAtMs: number | null;
  /** Why the node is not healthy; null after a healthy probe. */
  lastError: string | null;
}

/** A verdict change, emitted once per change. */
export interface HealthChange {
  node: string;
  from: HealthVerdict;
  to: HealthVerdict;
  reason: string;
  /** Clock time, ms since the epoch. */
  atMs: number;
}

/**
 * Health of one node from active probes and passive query failures. A
 * replica counts as healthy only once `pg_is_in_recovery()` says so (and its
 * `system_identifier` matches the primary's, when known). Failures flip the
 * verdict to unhealthy only after `failureThreshold` in a row; one healthy
 * probe restores it.
 */
export class HealthTracker {
  /** Node name. */
  readonly node: string;
  /** What the node is supposed to be. */
  readonly role: "primary" | "replica";
  private readonly failures: ConsecutiveFailures;
  private readonly clock: Clock;
  private currentVerdict: HealthVerdict = "unknown";
  private lastCheckAtMs: number | null = null;
  private lastSuccessAtMs: number | null = null;
  private lastError: string | null = null;
  private readonly listeners: Listeners<HealthChange>;

  /** @throws RangeError when `failureThreshold` is not a positive integer. */
  constructor(opts: HealthTrackerOptions) {
    this.node = opts.node;
    this.listeners = new Listeners(`health tracker ${opts.node}`);
    this.role = opts.role;
    this.failures = new ConsecutiveFailures(
      opts.failureThreshold ?? 3,
      "failureThreshold",
    );
    this.clock = opts.clock ?? systemClock;
  }

  /**
   * Records an active probe.
   * @param primarySystemIdentifier the primary's `system_identifier`, or null when
   *   unknown (then a replica is not checked against it). Ignored for the primary.
   */
  recordProbe(
    result: ProbeResult,
    primarySystemIdentifier: string | null,
  ): void {
    this.lastCheckAtMs = this.clock.now();
    if (!result.ok) {
      this.fail(result.error ?? "health probe failed");
      return;
    }
    if (result.inRecovery === undefined) {
      this.fail("health probe did not report pg_is_in_recovery()");
      return;
    }
    if (this.role === "primary") {
      if (result.inRecovery)
        this.conclude("unhealthy", "primary is in recovery (read-only)");
      else this.succeed();
      return;
    }
    if (!result.inRecovery) {
      this.conclude(
        "not_a_replica",
        "pg_is_in_recovery() is false: this server is a primary, not a replica",
      );
    } else if (
      primarySystemIdentifier !== null &&
      result.systemIdentifier !== primarySystemIdentifier
    ) {
      this.conclude(
        "not_a_replica",
        `system_identifier ${result.systemIdentifier ?? "(not reported)"} differs from the primary's ${primarySystemIdentifier}: not a replica of this primary`,
      );
    } else {
      this.succeed();
    }
  }

  /** A real query failed for a node reason (connection refused/reset/timeout): counts like a failed probe. */
  recordPassiveFailure(error: string): void {
    this.lastCheckAtMs = this.clock.now();
    this.fail(error);
  }

  /** A copy of the current state. */
  get snapshot(): HealthSnapshot {
    return {
      verdict: this.currentVerdict,
      consecutiveFailures: this.failures.count,
      lastCheckAtMs: this.lastCheckAtMs,
      lastSuccessAtMs: this.lastSuccessAtMs,
      lastError: this.lastError,
    };
  }

  /** The current verdict. */
  get verdict(): HealthVerdict {
    return this.currentVerdict;
  }

  /**
   * Subscribes to verdict changes. A listener that throws is ignored (the first
   * such error per tracker is reported with console.error).
   * @returns a function that unsubscribes.
   */
  onChange(listener: (e: HealthChange) => void): () => void {
    return this.listeners.add(listener);
  }

  private succeed(): void {
    this.failures.recordSuccess();
    this.lastSuccessAtMs = this.lastCheckAtMs;
    this.lastError = null;
    this.setVerdict("healthy", "health probe succeeded");
  }

  private fail(error: string): void {
    this.lastError = error;
    if (this.failures.recordFailure()) {
      this.setVerdict(
        "unhealthy",
        `${this.failures.count} consecutive failures: ${error}`,
      );
    }
  }

  /** The node answered, but is not what its role needs: a conclusive verdict, not a connectivity failure. */
  private conclude(
    verdict: "unhealthy" | "not_a_replica",
    error: string,
  ): void {
    this.failures.reset();
    this.lastError = error;
    this.setVerdict(verdict, error);
  }

  private setVerdict(to: HealthVerdict, reason: string): void {
    const from = this.currentVerdict;
    if (from === to) return;
    this.currentVerdict = to;
    const event: HealthChange = {
      node: this.node,
      from,
      to,
      reason,
      atMs: this.clock.now(),
    };
    this.listeners.emit(event);
  }
}

import { Listeners } from "../support/listeners";
import { type Clock, systemClock } from "../support/clock";
import { ConsecutiveFailures } from "./consecutive_failures";

/**
 * The breaker's state; each variant carries only the data that state needs.
 * - `closed`: queries flow; `failures` counts consecutive failures so far.
 * - `open`: queries are refused until `reopensAtMs`; a `manual` open (admin)
 *   never reopens by itself and has `reopensAtMs` = `Infinity`.
 * - `half_open`: one trial query at a time; `successes` counts successful trials.
 */
export type CircuitState =
  | { readonly name: "closed"; readonly failures: number }
  | {
      readonly name: "open";
      readonly openedAtMs: number;
      readonly reopensAtMs: number;
      readonly manual: boolean;
    }
  | {
      readonly name: "half_open";
      readonly successes: number;
      readonly probeInFlight: boolean;
    };

/** `"closed" | "open" | "half_open"`. */
export type CircuitStateName = CircuitState["name"];

/** One state change, emitted exactly once per transition. */
export interface CircuitTransition {
  /** Replica name. */
  node: string;
  from: CircuitStateName;
  to: CircuitStateName;
  /** Why, for logs (e.g. "3 consecutive failures: connection refused"). */
  reason: string;
  /** Clock time of the transition, ms since the epoch. */
  atMs: number;
}

/** Options of {@link CircuitBreaker}; numbers are validated by the constructor. */
export interface CircuitBreakerOptions {
  /** Replica name, carried on events. */
  node: string;
  /** Consecutive failures that open the breaker; positive integer, default 3 (`REPLICA_FAILURE_THRESHOLD`). */
  failureThreshold?: number;
  /** How long the breaker stays open before a trial; ms, >= 0, default 30 000 (`CIRCUIT_BREAKER_OPEN_DURATION`). */
  openDurationMs?: number;
  /** Successful trials that close a half-open breaker; positive integer, default 5 (`CIRCUIT_BREAKER_SUCCESS_THRESHOLD`). */
  successThreshold?: number;
  /** Source of time; default {@link systemClock}. */
  clock?: Clock;
}

/**
 * The right to send one query through a breaker, taken by
 * {@link CircuitBreaker.tryAcquire} and settled once by the attempt that
 * holds it: {@link success}, {@link failure}, or {@link release} (no
 * verdict: the attempt ended for its own reason). Settling again does
 * nothing, so no path can count an attempt twice. A half-open breaker's
 * permit is its one trial slot, freed when the permit is settled. A verdict
 * given after the breaker changed state since the permit was taken is
 * ignored: it speaks of a state that is gone.
 */
export class BreakerPermit<O = unknown> {
  private settled = false;

  constructor(
    private readonly breaker: CircuitBreaker<O>,
    /** Who the breaker guards (the replica). */
    readonly owner: O,
    /** The breaker's state generation when the permit was taken. */
    readonly generation: number,
  ) {}

  /** The query succeeded. */
  success(): void {
    if (this.settle()) this.breaker.settle(this, "success");
  }

  /** The query failed for the node's fault. */
  failure(reason: string): void {
    if (this.settle()) this.breaker.settle(this, "failure", reason);
  }

  /** No verdict: the attempt ended for a reason of its own (the caller's error, a lost hedge, a re-plan). */
  release(): void {
    if (this.settle()) this.breaker.settle(this, "release");
  }

  /** Settled already. */
  get isSettled(): boolean {
    return this.settled;
  }

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    return true;
  }
}

/**
 * Per-replica circuit breaker: closed → open after `failureThreshold`
 * consecutive failures; open → half_open once `openDurationMs` has passed
 * (applied lazily whenever the breaker is read or used); half_open lets one
 * trial query through at a time and closes after `successThreshold` successful
 * trials, or reopens on the first failed one. Pure and I/O-free: the caller
 * reports outcomes, the breaker only decides.
 */
export class CircuitBreaker<O = unknown> {
  /** Replica name. */
  readonly node: string;
  /** Who the breaker guards, carried by its permits. */
  readonly owner: O;
  /** See {@link CircuitBreakerOptions.openDurationMs}. */
  readonly openDurationMs: number;
  /** See {@link CircuitBreakerOptions.successThreshold}. */
  readonly successThreshold: number;
  private readonly trip: ConsecutiveFailures;
  private readonly clock: Clock;
  private current: CircuitState = { name: "closed", failures: 0 };
  /** Counts state changes: a permit's verdict counts only within its generation. */
  private generation = 0;
  private readonly listeners: Listeners<CircuitTransition>;

  /** @throws RangeError naming the option when a number is out of range. */
  constructor(opts: CircuitBreakerOptions & { owner?: O }) {
    this.node = opts.node;
    this.owner = opts.owner as O;
    this.listeners = new Listeners(`circuit breaker ${opts.node}`);
    this.trip = new ConsecutiveFailures(
      opts.failureThreshold ?? 3,
      "failureThreshold",
    );
    this.openDurationMs = opts.openDurationMs ?? 30_000;
    if (!Number.isFinite(this.openDurationMs) || this.openDurationMs < 0) {
      throw new RangeError(
        `openDurationMs must be a non-negative number of milliseconds, got ${String(this.openDurationMs)}`,
      );
    }
    this.successThreshold = opts.successThreshold ?? 5;
    if (
      !Number.isSafeInteger(this.successThreshold) ||
      this.successThreshold < 1
    ) {
      throw new RangeError(
        `successThreshold must be a positive integer, got ${String(this.successThreshold)}`,
      );
    }
    this.clock = opts.clock ?? systemClock;
  }

  /** Consecutive failures that open the breaker. */
  get failureThreshold(): number {
    return this.trip.threshold;
  }

  /** The current state, after applying time (an elapsed automatic open reads as half_open). */
  get state(): CircuitState {
    this.applyTime();
    return this.current;
  }

  /** Name of {@link state}. */
  get stateName(): CircuitStateName {
    return this.state.name;
  }

  /**
   * May a query go to this node now? closed: yes. open: no. half_open: yes
   * only when no trial is in flight, and then the permit is the trial slot.
   * @returns the permit the query's attempt settles, or null (refused).
   */
  tryAcquire(): BreakerPermit<O> | null {
    const s = this.state;
    switch (s.name) {
      case "closed":
        return new BreakerPermit(this, this.owner, this.generation);
      case "open":
        return null;
      case "half_open":
        if (s.probeInFlight) return null;
        this.current = { ...s, probeInFlight: true };
        return new BreakerPermit(this, this.owner, this.generation);
    }
  }

  /** Would {@link tryAcquire} be granted right now? Changes nothing, not even the lazy open → half_open. */
  canAttempt(): boolean {
    const s = this.current;
    switch (s.name) {
      case "closed":
        return true;
      case "open":
        // Once elapsed this will read as a fresh half_open, whose slot is free.
        return this.openElapsed(s);
      case "half_open":
        return !s.probeInFlight;
    }
  }

  /** @internal A permit's verdict ({@link BreakerPermit}); ignored when the state changed since it was taken. */
  settle(
    permit: BreakerPermit<O>,
    verdict: "success" | "failure" | "release",
    reason?: string,
  ): void {
    const s = this.state;
    if (permit.generation !== this.generation) return;
    switch (verdict) {
      case "release":
        if (s.name === "half_open" && s.probeInFlight)
          this.current = { ...s, probeInFlight: false };
        return;
      case "success":
        // Closed with no failure counted, a success changes nothing
        // (recording it would only replace the state with an equal one).
        if (s.name === "closed" && s.failures === 0) return;
        this.recordSuccess();
        return;
      case "failure":
        this.recordFailure(reason);
        return;
    }
  }

  /** A query on this node succeeded (through its permit). closed: resets the failure count. half_open: counts a trial, closes at `successThreshold`. open: ignored. */
  private recordSuccess(): void {
    const s = this.state;
    switch (s.name) {
      case "closed":
        this.trip.recordSuccess();
        this.current = { name: "closed", failures: this.trip.count };
        return;
      case "half_open": {
        const successes = s.successes + 1;
        if (successes >= this.successThreshold) {
          this.toClosed(`${successes} successful trial queries`);
        } else {
          this.current = { name: "half_open", successes, probeInFlight: false };
        }
        return;
      }
      case "open":
        return;
    }
  }

  /**
   * A query or probe on this node failed for a node reason: through a
   * permit, or directly for a failed health probe. closed: counts, opens at
   * `failureThreshold`. half_open: reopens. open: ignored.
   */
  recordFailure(reason = "query failed"): void {
    const s = this.state;
    switch (s.name) {
      case "closed":
        if (this.trip.recordFailure()) {
          this.toOpen(
            `${this.trip.count} consecutive failures: ${reason}`,
            false,
          );
        } else {
          this.current = { name: "closed", failures: this.trip.count };
        }
        return;
      case "half_open":
        this.toOpen(`trial query failed: ${reason}`, false);
        return;
      case "open":
        return;
    }
  }

  /**
   * Admin: forces the breaker open until {@link closeManually}; it never turns
   * half_open by itself. No-op when already manually open.
   */
  openManually(reason = "opened manually"): void {
    const s = this.state;
    if (s.name === "open" && s.manual) return;
    this.toOpen(reason, true);
  }

  /** Admin: forces the breaker closed with counters reset. Already closed: only resets the count, no event. */
  closeManually(reason = "closed manually"): void {
    if (this.state.name === "closed") {
      this.trip.reset();
      this.current = { name: "closed", failures: 0 };
      return;
    }
    this.toClosed(reason);
  }

  /**
   * Subscribes to transitions. A listener that throws is ignored (the first
   * such error per breaker is reported with console.error).
   * @returns a function that unsubscribes.
   */
  onStateChange(listener: (t: CircuitTransition) => void): () => void {
    return this.listeners.add(listener);
  }

  private applyTime(): void {
    const s = this.current;
    if (s.name === "open" && this.openElapsed(s))
      this.toHalfOpen("open duration elapsed");
  }

  private openElapsed(s: Extract<CircuitState, { name: "open" }>): boolean {
    return !s.manual && this.clock.now() >= s.reopensAtMs;
  }

  private toOpen(reason: string, manual: boolean): void {
    this.generation++;
    const atMs = this.clock.now();
    const from = this.current.name;
    this.trip.reset();
    this.current = {
      name: "open",
      openedAtMs: atMs,
      reopensAtMs: manual
        ? Number.POSITIVE_INFINITY
        : atMs + this.openDurationMs,
      manual,
    };
    this.emit({ node: this.node, from, to: "open", reason, atMs });
  }

  private toHalfOpen(reason: string): void {
    this.generation++;
    const from = this.current.name;
    this.current = { name: "half_open", successes: 0, probeInFlight: false };
    this.emit({
      node: this.node,
      from,
      to: "half_open",
      reason,
      atMs: this.clock.now(),
    });
  }

  private toClosed(reason: string): void {
    this.generation++;
    const from = this.current.name;
    this.trip.reset();
    this.current = { name: "closed", failures: 0 };
    this.emit({
      node: this.node,
      from,
      to: "closed",
      reason,
      atMs: this.clock.now(),
    });
  }

  private emit(t: CircuitTransition): void {
    this.listeners.emit(t);
  }
}

/**
 * The one source of time for breakers, health checks and lag.
 * Injected everywhere with {@link systemClock} as the default, so tests drive
 * time with a {@link ManualClock} instead of sleeping.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  constructor(private nowMs = 1_700_000_000_000) {}
  now(): number {
    return this.nowMs;
  }
  /** Moves time forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.nowMs += ms;
  }
  /** Sets the absolute time in milliseconds since the epoch. */
  set(ms: number): void {
    this.nowMs = ms;
  }
}

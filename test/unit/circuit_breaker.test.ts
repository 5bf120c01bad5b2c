import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitTransition,
} from "../../backend/database/router/health/circuit_breaker";
import { ManualClock } from "../../backend/database/router/support/clock";
import { ConsecutiveFailures } from "../../backend/database/router/health/consecutive_failures";

const OPEN_MS = 30_000;

function setup(opts: Partial<CircuitBreakerOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const breaker = new CircuitBreaker({
    node: "replica-1",
    failureThreshold: 3,
    openDurationMs: OPEN_MS,
    successThreshold: 5,
    clock,
    ...opts,
  });
  const events: CircuitTransition[] = [];
  breaker.onStateChange((t) => events.push(t));
  return { clock, breaker, events };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.recordFailure("connection refused");
}

/** Opens the breaker and lets the open duration pass, leaving it half-open. */
function toHalfOpen(s: ReturnType<typeof setup>): void {
  fail(s.breaker, 3);
  s.clock.advance(OPEN_MS);
  expect(s.breaker.stateName).toBe("half_open");
}

describe("ConsecutiveFailures", () => {
  it("is met exactly at the threshold and reset by a success", () => {
    const f = new ConsecutiveFailures(3);
    expect(f.recordFailure()).toBe(false);
    expect(f.recordFailure()).toBe(false);
    expect(f.recordFailure()).toBe(true);
    expect(f.count).toBe(3);
    expect(f.recordFailure()).toBe(true);
    f.recordSuccess();
    expect(f.count).toBe(0);
    expect(f.recordFailure()).toBe(false);
    f.reset();
    expect(f.count).toBe(0);
  });

  it("defaults to 3 and rejects a threshold that is not a positive integer", () => {
    expect(new ConsecutiveFailures().threshold).toBe(3);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new ConsecutiveFailures(bad)).toThrow(RangeError);
    }
    expect(() => new ConsecutiveFailures(0)).toThrow(/threshold/);
  });
});

describe("CircuitBreaker", () => {
  beforeEach(() => {
    vi.spyOn(console, "error").mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("starts closed with the documented defaults", () => {
    const b = new CircuitBreaker({ node: "r" });
    expect(b.state).toEqual({ name: "closed", failures: 0 });
    expect(b.failureThreshold).toBe(3);
    expect(b.openDurationMs).toBe(30_000);
    expect(b.successThreshold).toBe(5);
    expect(b.tryAcquire()).not.toBeNull();
    expect(b.canAttempt()).toBe(true);
  });

  it("stays closed below the failure threshold and opens exactly at it", () => {
    const { breaker, events, clock } = setup();
    fail(breaker, 2);
    expect(breaker.state).toEqual({ name: "closed", failures: 2 });
    expect(events).toEqual([]);
    breaker.recordFailure("timeout");
    expect(breaker.state).toEqual({
      name: "open",
      openedAtMs: clock.now(),
      reopensAtMs: clock.now() + OPEN_MS,
      manual: false,
    });
    expect(events).toEqual([
      {
        node: "replica-1",
        from: "closed",
        to: "open",
        reason: "3 consecutive failures: timeout",
        atMs: clock.now(),
      },
    ]);
  });

  it("resets the failure count on a success while closed", () => {
    const { breaker } = setup();
    fail(breaker, 2);
    breaker.tryAcquire()!.success();
    expect(breaker.state).toEqual({ name: "closed", failures: 0 });
    fail(breaker, 2);
    expect(breaker.stateName).toBe("closed");
  });

  it("rejects while open until the open duration has elapsed exactly", () => {
    const s = setup();
    fail(s.breaker, 3);
    expect(s.breaker.tryAcquire()).toBeNull();
    expect(s.breaker.canAttempt()).toBe(false);
    s.clock.advance(OPEN_MS - 1);
    expect(s.breaker.canAttempt()).toBe(false);
    expect(s.breaker.tryAcquire()).toBeNull();
    expect(s.breaker.stateName).toBe("open");
    s.clock.advance(1);
    expect(s.breaker.state).toEqual({
      name: "half_open",
      successes: 0,
      probeInFlight: false,
    });
    expect(s.events.map((e) => [e.from, e.to])).toEqual([
      ["closed", "open"],
      ["open", "half_open"],
    ]);
    expect(s.events[1]?.atMs).toBe(s.clock.now());
  });

  it("emits the lazy open -> half_open transition once, however often it is read", () => {
    const s = setup();
    fail(s.breaker, 3);
    s.clock.advance(OPEN_MS + 5_000);
    void s.breaker.state;
    void s.breaker.stateName;
    s.breaker.tryAcquire();
    void s.breaker.state;
    expect(s.events.filter((e) => e.to === "half_open")).toHaveLength(1);
  });

  it("canAttempt changes nothing, not even the lazy transition", () => {
    const s = setup();
    fail(s.breaker, 3);
    s.clock.advance(OPEN_MS);
    expect(s.breaker.canAttempt()).toBe(true);
    expect(s.breaker.canAttempt()).toBe(true);
    expect(s.events).toHaveLength(1);
    expect(s.breaker.tryAcquire()).not.toBeNull();
    expect(s.breaker.canAttempt()).toBe(false);
    expect(s.breaker.state).toEqual({
      name: "half_open",
      successes: 0,
      probeInFlight: true,
    });
  });

  it("grants exactly one half-open probe at a time", () => {
    const s = setup();
    toHalfOpen(s);
    const trial = s.breaker.tryAcquire();
    expect(trial).not.toBeNull();
    expect(s.breaker.tryAcquire()).toBeNull();
    expect(s.breaker.canAttempt()).toBe(false);
    trial!.success();
    expect(s.breaker.state).toEqual({
      name: "half_open",
      successes: 1,
      probeInFlight: false,
    });
    expect(s.breaker.tryAcquire()).not.toBeNull();
    expect(s.breaker.tryAcquire()).toBeNull();
  });

  it("a permit's release() frees the probe slot without a verdict", () => {
    const s = setup();
    toHalfOpen(s);
    const trial = s.breaker.tryAcquire()!;
    trial.release();
    expect(s.breaker.state).toEqual({
      name: "half_open",
      successes: 0,
      probeInFlight: false,
    });
    expect(s.breaker.tryAcquire()).not.toBeNull();
    // A closed breaker's permit holds no slot: releasing it changes nothing.
    const closed = setup();
    closed.breaker.tryAcquire()!.release();
    expect(closed.breaker.state).toEqual({ name: "closed", failures: 0 });
  });

  it("a permit is settled once: a second verdict, or a release after one, changes nothing", () => {
    const s = setup();
    const p = s.breaker.tryAcquire()!;
    p.failure("reset");
    p.failure("reset");
    p.release();
    expect(s.breaker.state).toEqual({ name: "closed", failures: 1 });
    expect(p.isSettled).toBe(true);

    const h = setup();
    toHalfOpen(h);
    const trial = h.breaker.tryAcquire()!;
    trial.success();
    // A release after the verdict does not free a slot a later trial holds.
    const next = h.breaker.tryAcquire()!;
    trial.release();
    expect(h.breaker.tryAcquire()).toBeNull();
    next.success();
    expect(h.breaker.state).toMatchObject({ successes: 2 });
  });

  it("ignores a permit's verdict once the breaker changed state since it was taken", () => {
    const s = setup();
    const early = s.breaker.tryAcquire()!; // taken while closed
    fail(s.breaker, 3);
    toHalfOpen(s);
    // A read sent while closed that answers now is no half-open trial.
    early.success();
    expect(s.breaker.state).toEqual({
      name: "half_open",
      successes: 0,
      probeInFlight: false,
    });
    const trial = s.breaker.tryAcquire()!;
    // A failed health probe reopens meanwhile: the trial's late verdict is moot.
    s.breaker.recordFailure("probe failed");
    trial.success();
    expect(s.breaker.stateName).toBe("open");
  });

  it("reopens with a fresh open duration when a half-open probe fails", () => {
    const s = setup();
    toHalfOpen(s);
    s.clock.advance(123);
    s.breaker.tryAcquire()!.failure("reset");
    const reopenedAt = s.clock.now();
    expect(s.breaker.state).toEqual({
      name: "open",
      openedAtMs: reopenedAt,
      reopensAtMs: reopenedAt + OPEN_MS,
      manual: false,
    });
    expect(s.events.at(-1)).toMatchObject({
      from: "half_open",
      to: "open",
      reason: "trial query failed: reset",
    });
    s.clock.advance(OPEN_MS - 1);
    expect(s.breaker.tryAcquire()).toBeNull();
    s.clock.advance(1);
    expect(s.breaker.tryAcquire()).not.toBeNull();
  });

  it("closes after exactly successThreshold successful probes", () => {
    const s = setup();
    toHalfOpen(s);
    for (let i = 1; i <= 4; i++) {
      s.breaker.tryAcquire()!.success();
      expect(s.breaker.state).toEqual({
        name: "half_open",
        successes: i,
        probeInFlight: false,
      });
    }
    s.breaker.tryAcquire()!.success();
    expect(s.breaker.state).toEqual({ name: "closed", failures: 0 });
    expect(s.events.map((e) => [e.from, e.to])).toEqual([
      ["closed", "open"],
      ["open", "half_open"],
      ["half_open", "closed"],
    ]);
    // the failure count starts over after closing
    fail(s.breaker, 2);
    expect(s.breaker.stateName).toBe("closed");
  });

  it("ignores successes and failures while open", () => {
    const s = setup();
    const inFlight = s.breaker.tryAcquire()!;
    fail(s.breaker, 3);
    const opened = s.breaker.state;
    s.clock.advance(1_000);
    inFlight.success();
    s.breaker.recordFailure();
    expect(s.breaker.state).toEqual(opened);
    expect(s.events).toHaveLength(1);
  });

  it("a manual open stays open past the open duration until closed manually", () => {
    const s = setup();
    s.breaker.openManually("maintenance");
    expect(s.breaker.state).toMatchObject({
      name: "open",
      manual: true,
      reopensAtMs: Infinity,
    });
    expect(s.events).toEqual([
      {
        node: "replica-1",
        from: "closed",
        to: "open",
        reason: "maintenance",
        atMs: s.clock.now(),
      },
    ]);
    s.clock.advance(OPEN_MS * 10);
    expect(s.breaker.canAttempt()).toBe(false);
    expect(s.breaker.tryAcquire()).toBeNull();
    expect(s.breaker.stateName).toBe("open");
    s.breaker.openManually();
    expect(s.events).toHaveLength(1);
    s.breaker.closeManually("done");
    expect(s.breaker.state).toEqual({ name: "closed", failures: 0 });
    expect(s.events.at(-1)).toMatchObject({
      from: "open",
      to: "closed",
      reason: "done",
    });
  });

  it("a manual open turns an automatic open into a manual one", () => {
    const s = setup();
    fail(s.breaker, 3);
    s.breaker.openManually();
    expect(s.breaker.state).toMatchObject({ name: "open", manual: true });
    s.clock.advance(OPEN_MS);
    expect(s.breaker.stateName).toBe("open");
    expect(s.events.map((e) => [e.from, e.to])).toEqual([
      ["closed", "open"],
      ["open", "open"],
    ]);
  });

  it("a manual close resets counters from any state", () => {
    const s = setup();
    fail(s.breaker, 2);
    s.breaker.closeManually();
    expect(s.breaker.state).toEqual({ name: "closed", failures: 0 });
    expect(s.events).toEqual([]); // already closed: no transition
    fail(s.breaker, 2);
    expect(s.breaker.stateName).toBe("closed");

    const h = setup();
    toHalfOpen(h);
    h.breaker.tryAcquire()!.success();
    h.breaker.closeManually();
    expect(h.breaker.state).toEqual({ name: "closed", failures: 0 });
    expect(h.events.at(-1)).toMatchObject({ from: "half_open", to: "closed" });
  });

  it("unsubscribe stops events to that listener only", () => {
    const s = setup();
    const other: CircuitTransition[] = [];
    const unsubscribe = s.breaker.onStateChange((t) => other.push(t));
    fail(s.breaker, 3);
    unsubscribe();
    unsubscribe();
    s.breaker.closeManually();
    expect(other).toHaveLength(1);
    expect(s.events).toHaveLength(2);
  });

  it("a throwing listener does not break the breaker or other listeners", () => {
    const s = setup();
    s.breaker.onStateChange(() => {
      throw new Error("boom");
    });
    const after: CircuitTransition[] = [];
    s.breaker.onStateChange((t) => after.push(t));
    fail(s.breaker, 3);
    s.breaker.closeManually();
    expect(s.breaker.stateName).toBe("closed");
    expect(s.events).toHaveLength(2);
    expect(after).toHaveLength(2);
    expect(console.error).toHaveBeenCalledTimes(1);
  });

  it("rejects bad numeric options with a RangeError naming the option", () => {
    const cases: [Partial<CircuitBreakerOptions>, RegExp][] = [
      [{ failureThreshold: 0 }, /failureThreshold/],
      [{ failureThreshold: 2.5 }, /failureThreshold/],
      [{ successThreshold: 0 }, /successThreshold/],
      [{ successThreshold: -3 }, /successThreshold/],
      [{ openDurationMs: -1 }, /openDurationMs/],
      [{ openDurationMs: Number.NaN }, /openDurationMs/],
    ];
    for (const [opts, name] of cases) {
      expect(() => setup(opts)).toThrow(RangeError);
      expect(() => setup(opts)).toThrow(name);
    }
    expect(() => setup({ openDurationMs: 0 })).not.toThrow();
  });

  it("with a zero open duration a tripped breaker is immediately half-open", () => {
    const s = setup({ openDurationMs: 0 });
    fail(s.breaker, 3);
    expect(s.breaker.tryAcquire()).not.toBeNull();
    expect(s.breaker.stateName).toBe("half_open");
  });
});

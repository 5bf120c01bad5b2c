import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import {
  type HealthChange,
  HealthTracker,
  type HealthTrackerOptions,
} from "../../backend/database/router/health/health_tracker";

const PRIMARY_ID = "7300000000000000001";
const HEALTHY_REPLICA = {
  ok: true,
  inRecovery: true,
  systemIdentifier: PRIMARY_ID,
} as const;
const DOWN = { ok: false, error: "connection refused" } as const;

function setup(opts: Partial<HealthTrackerOptions> = {}) {
  const clock = new ManualClock(5_000_000);
  const tracker = new HealthTracker({
    node: "replica-1",
    role: "replica",
    failureThreshold: 3,
    clock,
    ...opts,
  });
  const events: HealthChange[] = [];
  tracker.onChange((e) => events.push(e));
  return { clock, tracker, events };
}

describe("HealthTracker", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("starts unknown with an empty snapshot", () => {
    const { tracker } = setup();
    expect(tracker.snapshot).toEqual({
      verdict: "unknown",
      consecutiveFailures: 0,
      lastCheckAtMs: null,
      lastSuccessAtMs: null,
      lastError: null,
    });
  });

  it("a replica in recovery with the primary's identifier is healthy", () => {
    const { tracker, events, clock } = setup();
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    expect(tracker.snapshot).toEqual({
      verdict: "healthy",
      consecutiveFailures: 0,
      lastCheckAtMs: clock.now(),
      lastSuccessAtMs: clock.now(),
      lastError: null,
    });
    expect(events).toEqual([
      {
        node: "replica-1",
        from: "unknown",
        to: "healthy",
        reason: "health probe succeeded",
        atMs: clock.now(),
      },
    ]);
  });

  it("skips the identifier check when the primary's identifier is unknown", () => {
    const { tracker } = setup();
    tracker.recordProbe(
      { ok: true, inRecovery: true, systemIdentifier: "other" },
      null,
    );
    expect(tracker.verdict).toBe("healthy");
  });

  it("keeps the previous verdict below the failure threshold and turns unhealthy exactly at it", () => {
    const { tracker, events, clock } = setup();
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    clock.advance(1_000);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(tracker.snapshot).toMatchObject({
      verdict: "healthy",
      consecutiveFailures: 2,
      lastError: "connection refused",
      lastCheckAtMs: clock.now(),
      lastSuccessAtMs: clock.now() - 1_000,
    });
    expect(events).toHaveLength(1);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(tracker.verdict).toBe("unhealthy");
    expect(tracker.snapshot.consecutiveFailures).toBe(3);
    expect(events.at(-1)).toMatchObject({
      from: "healthy",
      to: "unhealthy",
      reason: "3 consecutive failures: connection refused",
    });
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(events).toHaveLength(2); // no event without a change
  });

  it("failures before any success leave the verdict unknown until the threshold", () => {
    const { tracker } = setup();
    tracker.recordProbe({ ok: false }, PRIMARY_ID);
    tracker.recordProbe({ ok: false }, PRIMARY_ID);
    expect(tracker.verdict).toBe("unknown");
    expect(tracker.snapshot.lastError).toBe("health probe failed");
    tracker.recordProbe({ ok: false }, PRIMARY_ID);
    expect(tracker.verdict).toBe("unhealthy");
  });

  it("recovers on one success", () => {
    const { tracker, events } = setup({ failureThreshold: 1 });
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(tracker.verdict).toBe("unhealthy");
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    expect(tracker.snapshot).toMatchObject({
      verdict: "healthy",
      consecutiveFailures: 0,
      lastError: null,
    });
    expect(events.map((e) => [e.from, e.to])).toEqual([
      ["unknown", "unhealthy"],
      ["unhealthy", "healthy"],
    ]);
  });

  it("a success in between restarts the failure count", () => {
    const { tracker } = setup();
    tracker.recordProbe(DOWN, PRIMARY_ID);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(tracker.verdict).toBe("healthy");
  });

  it("a replica that is not in recovery is not a replica", () => {
    const { tracker, events } = setup();
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    tracker.recordProbe(
      { ok: true, inRecovery: false, systemIdentifier: PRIMARY_ID },
      PRIMARY_ID,
    );
    const error =
      "pg_is_in_recovery() is false: this server is a primary, not a replica";
    expect(tracker.snapshot).toMatchObject({
      verdict: "not_a_replica",
      lastError: error,
      consecutiveFailures: 0,
    });
    expect(events.at(-1)).toMatchObject({
      from: "healthy",
      to: "not_a_replica",
      reason: error,
    });
  });

  it("a replica of another primary is not a replica", () => {
    const { tracker } = setup();
    tracker.recordProbe(
      { ok: true, inRecovery: true, systemIdentifier: "999" },
      PRIMARY_ID,
    );
    expect(tracker.verdict).toBe("not_a_replica");
    expect(tracker.snapshot.lastError).toBe(
      `system_identifier 999 differs from the primary's ${PRIMARY_ID}: not a replica of this primary`,
    );
    expect(tracker.snapshot.lastSuccessAtMs).toBeNull();
  });

  it("a replica that does not report its identifier is not proven a replica of this primary", () => {
    const { tracker } = setup();
    tracker.recordProbe({ ok: true, inRecovery: true }, PRIMARY_ID);
    expect(tracker.verdict).toBe("not_a_replica");
  });

  it("a completed probe without pg_is_in_recovery() counts as a failure", () => {
    const { tracker } = setup({ failureThreshold: 1 });
    tracker.recordProbe({ ok: true, systemIdentifier: PRIMARY_ID }, PRIMARY_ID);
    expect(tracker.verdict).toBe("unhealthy");
    expect(tracker.snapshot.lastError).toMatch(/pg_is_in_recovery/);
  });

  it("the primary is healthy out of recovery and unhealthy in recovery", () => {
    const { tracker, events } = setup({ node: "primary", role: "primary" });
    tracker.recordProbe(
      { ok: true, inRecovery: false, systemIdentifier: PRIMARY_ID },
      null,
    );
    expect(tracker.verdict).toBe("healthy");
    tracker.recordProbe(
      { ok: true, inRecovery: true, systemIdentifier: PRIMARY_ID },
      null,
    );
    expect(tracker.snapshot).toMatchObject({
      verdict: "unhealthy",
      lastError: "primary is in recovery (read-only)",
    });
    expect(events.at(-1)).toMatchObject({
      node: "primary",
      from: "healthy",
      to: "unhealthy",
    });
    tracker.recordProbe({ ok: true, inRecovery: false }, null);
    expect(tracker.verdict).toBe("healthy");
  });

  it("the primary turns unhealthy after failureThreshold failed probes", () => {
    const { tracker } = setup({ role: "primary", failureThreshold: 2 });
    tracker.recordProbe({ ok: true, inRecovery: false }, null);
    tracker.recordProbe(DOWN, null);
    expect(tracker.verdict).toBe("healthy");
    tracker.recordProbe(DOWN, null);
    expect(tracker.verdict).toBe("unhealthy");
  });

  it("passive failures count like failed probes", () => {
    const { tracker, clock } = setup();
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    clock.advance(10);
    tracker.recordPassiveFailure("connection reset");
    tracker.recordProbe(DOWN, PRIMARY_ID);
    expect(tracker.verdict).toBe("healthy");
    clock.advance(10);
    tracker.recordPassiveFailure("timeout");
    expect(tracker.snapshot).toMatchObject({
      verdict: "unhealthy",
      consecutiveFailures: 3,
      lastError: "timeout",
      lastCheckAtMs: clock.now(),
    });
  });

  it("unsubscribe works and a throwing listener does not break the tracker", () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { tracker, events } = setup({ failureThreshold: 1 });
    tracker.onChange(() => {
      throw new Error("boom");
    });
    const other: HealthChange[] = [];
    const unsubscribe = tracker.onChange((e) => other.push(e));
    tracker.recordProbe(HEALTHY_REPLICA, PRIMARY_ID);
    unsubscribe();
    tracker.recordPassiveFailure("refused");
    expect(tracker.verdict).toBe("unhealthy");
    expect(events).toHaveLength(2);
    expect(other).toHaveLength(1);
    expect(errors).toHaveBeenCalledTimes(1);
  });

  it("rejects a bad failureThreshold with a RangeError naming it", () => {
    for (const bad of [0, -2, 1.5, Number.NaN]) {
      expect(() => setup({ failureThreshold: bad })).toThrow(RangeError);
      expect(() => setup({ failureThreshold: bad })).toThrow(
        /failureThreshold/,
      );
    }
    const byDefault = new HealthTracker({ node: "r", role: "replica" });
    byDefault.recordPassiveFailure("x");
    byDefault.recordPassiveFailure("x");
    expect(byDefault.verdict).toBe("unknown");
    byDefault.recordPassiveFailure("x");
    expect(byDefault.verdict).toBe("unhealthy");
  });
});

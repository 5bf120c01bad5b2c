import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { RouterError } from "../../backend/database/router/base/errors";
import {
  evaluateLag,
  formatLsn,
  InvalidLsnError,
  isValidLsn,
  type LagSample,
  type LagStatusChange,
  LagTracker,
  parseLsn,
} from "../../backend/database/router/lag/lag_tracker";

const T = { warningSeconds: 5, criticalSeconds: 10 };
const NOW = 1_700_000_000_000;

function sample(over: Partial<LagSample> = {}): LagSample {
  return {
    primaryLsn: 1_000n,
    receiveLsn: 1_000n,
    replayLsn: 1_000n,
    lastReplayAtMs: NOW - 60_000,
    sampledAtMs: NOW,
    ...over,
  };
}

/** A replica `seconds` behind: 500 bytes to replay, last replay `seconds` before the sample. */
function behind(seconds: number): LagSample {
  return sample({ replayLsn: 500n, lastReplayAtMs: NOW - seconds * 1000 });
}

function setup() {
  const clock = new ManualClock(NOW);
  const tracker = new LagTracker({ node: "replica-1", thresholds: T, clock });
  const events: LagStatusChange[] = [];
  tracker.onStatusChange((e) => events.push(e));
  return { clock, tracker, events };
}

describe("LSN text", () => {
  it.each([
    ["0/0", 0n],
    ["16/B374D848", (0x16n << 32n) | 0xb374d848n],
    ["FFFFFFFF/FFFFFFFF", (1n << 64n) - 1n],
    ["0/1", 1n],
    ["1/0", 1n << 32n],
  ])("parses and formats %s", (text, value) => {
    expect(parseLsn(text)).toBe(value);
    expect(formatLsn(value)).toBe(text);
    expect(isValidLsn(text)).toBe(true);
  });

  it("accepts lower case and formats upper case, as PostgreSQL prints it", () => {
    expect(formatLsn(parseLsn("16/b374d848"))).toBe("16/B374D848");
    expect(formatLsn(parseLsn("00000016/0000000A"))).toBe("16/A");
  });

  it.each([
    "",
    "0/",
    "/0",
    "G/1",
    "1/2/3",
    " 0/1",
    "0/1 ",
    "0x1/2",
    "123456789/0",
    "0/123456789",
    "-1/0",
    "1",
  ])("rejects %j", (text) => {
    expect(isValidLsn(text)).toBe(false);
    expect(() => parseLsn(text)).toThrow(InvalidLsnError);
  });

  it("InvalidLsnError is an invalid_argument router error naming the text", () => {
    const err = (() => {
      try {
        parseLsn("G/1");
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(RouterError);
    expect(err).toMatchObject({
      code: "invalid_argument",
      text: "G/1",
      name: "InvalidLsnError",
    });
    expect((err as Error).message).toContain('"G/1"');
  });

  it("formatLsn rejects values outside 64 bits", () => {
    expect(() => formatLsn(-1n)).toThrow(RangeError);
    expect(() => formatLsn(1n << 64n)).toThrow(RangeError);
  });
});

describe("evaluateLag", () => {
  it("an idle cluster shows no lag however old the last replayed transaction", () => {
    for (const idleMs of [0, 60_000, 86_400_000 * 30]) {
      expect(evaluateLag(sample({ lastReplayAtMs: NOW - idleMs }), T)).toEqual({
        lagBytes: 0,
        lagSeconds: 0,
        status: "ok",
        replayLsn: "0/3E8",
        sampledAtMs: NOW,
      });
    }
    expect(evaluateLag(sample({ lastReplayAtMs: null }), T).status).toBe("ok");
  });

  it("a replica ahead of the primary's sample shows no lag", () => {
    expect(evaluateLag(sample({ replayLsn: 1_200n }), T)).toMatchObject({
      lagBytes: 0,
      lagSeconds: 0,
      status: "ok",
    });
  });

  it("behind: seconds since the last replay, bytes still to replay", () => {
    expect(
      evaluateLag(sample({ replayLsn: 400n, lastReplayAtMs: NOW - 2_500 }), T),
    ).toEqual({
      lagBytes: 600,
      lagSeconds: 2.5,
      status: "ok",
      replayLsn: "0/190",
      sampledAtMs: NOW,
    });
  });

  it("clamps a replay timestamp after the sample time to 0 seconds", () => {
    expect(
      evaluateLag(sample({ replayLsn: 400n, lastReplayAtMs: NOW + 3_000 }), T)
        .lagSeconds,
    ).toBe(0);
  });

  it("thresholds exactly met give warning and critical", () => {
    expect(evaluateLag(behind(4.999), T).status).toBe("ok");
    expect(evaluateLag(behind(5), T).status).toBe("warning");
    expect(evaluateLag(behind(9.999), T).status).toBe("warning");
    expect(evaluateLag(behind(10), T).status).toBe("critical");
    expect(evaluateLag(behind(3_600), T).status).toBe("critical");
  });

  it("behind without a replay timestamp is unknown", () => {
    expect(
      evaluateLag(sample({ replayLsn: 400n, lastReplayAtMs: null }), T),
    ).toMatchObject({
      lagBytes: 600,
      lagSeconds: null,
      status: "unknown",
    });
  });

  it("no sample, or no replay LSN, is unknown", () => {
    expect(evaluateLag(null, T)).toEqual({
      lagBytes: null,
      lagSeconds: null,
      status: "unknown",
      replayLsn: null,
      sampledAtMs: null,
    });
    expect(evaluateLag(sample({ replayLsn: null }), T)).toMatchObject({
      status: "unknown",
      lagBytes: null,
    });
  });
});

describe("LagTracker", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("is unknown before the first sample", () => {
    const { tracker } = setup();
    expect(tracker.reading.status).toBe("unknown");
    expect(tracker.lastSample).toBeNull();
    expect(tracker.lastError).toBeNull();
    expect(tracker.hasReplayed(0n)).toBe(false);
  });

  it("keeps the last sample and emits once per status change", () => {
    const { tracker, events, clock } = setup();
    tracker.recordSample(sample());
    expect(tracker.reading.status).toBe("ok");
    expect(tracker.lastSample).toEqual(sample());
    tracker.recordSample(sample());
    clock.advance(1_000);
    tracker.recordSample(behind(6));
    tracker.recordSample(behind(12));
    tracker.recordSample(behind(13));
    expect(events).toEqual([
      { node: "replica-1", from: "unknown", to: "ok", atMs: NOW },
      { node: "replica-1", from: "ok", to: "warning", atMs: NOW + 1_000 },
      { node: "replica-1", from: "warning", to: "critical", atMs: NOW + 1_000 },
    ]);
  });

  it("a failure makes the reading unknown until the next good sample", () => {
    const { tracker, events } = setup();
    tracker.recordSample(sample());
    tracker.recordFailure("timeout");
    expect(tracker.reading).toEqual({
      lagBytes: null,
      lagSeconds: null,
      status: "unknown",
      replayLsn: null,
      sampledAtMs: null,
    });
    expect(tracker.lastSample).toBeNull();
    expect(tracker.lastError).toBe("timeout");
    expect(tracker.hasReplayed(1n)).toBe(false);
    expect(events.at(-1)).toMatchObject({ from: "ok", to: "unknown" });
    tracker.recordSample(sample());
    expect(tracker.reading.status).toBe("ok");
    expect(tracker.lastError).toBeNull();
  });

  it("withinBound checks each axis inclusively", () => {
    const { tracker } = setup();
    tracker.recordSample(
      sample({ replayLsn: 400n, lastReplayAtMs: NOW - 3_000 }),
    ); // 600 bytes, 3 s
    expect(tracker.withinBound({})).toBe(true);
    expect(tracker.withinBound({ maxLagSeconds: 3 })).toBe(true);
    expect(tracker.withinBound({ maxLagSeconds: 2.999 })).toBe(false);
    expect(tracker.withinBound({ maxLagBytes: 600 })).toBe(true);
    expect(tracker.withinBound({ maxLagBytes: 599 })).toBe(false);
    expect(tracker.withinBound({ maxLagSeconds: 30, maxLagBytes: 599 })).toBe(
      false,
    );
    expect(tracker.withinBound({ maxLagSeconds: 1, maxLagBytes: 10_000 })).toBe(
      false,
    );
    expect(
      tracker.withinBound({ maxLagSeconds: 30, maxLagBytes: 10_000 }),
    ).toBe(true);
  });

  it("withinBound with an unknown reading: false with any bound, true with none", () => {
    const { tracker } = setup();
    tracker.recordFailure("refused");
    expect(tracker.withinBound({})).toBe(true);
    expect(tracker.withinBound({ maxLagSeconds: 1_000 })).toBe(false);
    expect(tracker.withinBound({ maxLagBytes: 1_000_000 })).toBe(false);
    // behind with no replay timestamp: bytes are known, but the status is not
    tracker.recordSample(sample({ replayLsn: 999n, lastReplayAtMs: null }));
    expect(tracker.withinBound({ maxLagBytes: 1_000_000 })).toBe(false);
  });

  it("hasReplayed compares against the last replay LSN", () => {
    const { tracker } = setup();
    tracker.recordSample(sample({ replayLsn: parseLsn("16/B374D848") }));
    expect(tracker.hasReplayed(parseLsn("16/B374D847"))).toBe(true);
    expect(tracker.hasReplayed(parseLsn("16/B374D848"))).toBe(true);
    expect(tracker.hasReplayed(parseLsn("16/B374D849"))).toBe(false);
    tracker.recordSample(sample({ replayLsn: null }));
    expect(tracker.hasReplayed(0n)).toBe(false);
  });

  it("unsubscribe works and a throwing listener does not break the tracker", () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const { tracker, events } = setup();
    tracker.onStatusChange(() => {
      throw new Error("boom");
    });
    const other: LagStatusChange[] = [];
    const unsubscribe = tracker.onStatusChange((e) => other.push(e));
    tracker.recordSample(sample());
    unsubscribe();
    tracker.recordSample(behind(20));
    expect(tracker.reading.status).toBe("critical");
    expect(events).toHaveLength(2);
    expect(other).toHaveLength(1);
    expect(errors).toHaveBeenCalledTimes(1);
  });

  it("defaults to 5 s / 10 s and validates thresholds", () => {
    const t = new LagTracker({ node: "r" });
    expect(t.thresholds).toEqual({ warningSeconds: 5, criticalSeconds: 10 });
    expect(
      () =>
        new LagTracker({
          node: "r",
          thresholds: { warningSeconds: -1, criticalSeconds: 10 },
        }),
    ).toThrow(/warningSeconds/);
    expect(
      () =>
        new LagTracker({
          node: "r",
          thresholds: { warningSeconds: 5, criticalSeconds: Number.NaN },
        }),
    ).toThrow(RangeError);
    expect(
      () =>
        new LagTracker({
          node: "r",
          thresholds: { warningSeconds: 10, criticalSeconds: 5 },
        }),
    ).toThrow(/criticalSeconds/);
  });
});

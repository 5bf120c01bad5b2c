/**
 * The dashboard's history ring and event log stay within their bounds over
 * a long run (a manual clock: a day of samples and events in a few ms), and
 * compute what the page shows: reads per interval and each node's share of
 * the last minute.
 */
import { describe, expect, it } from "vitest";
import { History } from "../../backend/database/dashboard/history";
import {
  EVENT_CAPACITY,
  EventLog,
} from "../../backend/database/dashboard/event_log";
import { silentLogger } from "../../backend/database/router/support/logger";

const reading = (name: string, reads: number, lagSeconds = 0) => ({
  name,
  reads,
  lagSeconds,
  lagBytes: 0,
  state: "healthy",
});

describe("History", () => {
  it("keeps 15 minutes of 5 s samples however long it runs, oldest first", () => {
    const h = new History(5_000, 15 * 60_000);
    expect(h.capacity).toBe(180);
    const t0 = Date.UTC(2026, 11, 2);
    const day = (24 * 3600_000) / 5_000;
    for (let i = 0; i < day; i++)
      h.record(t0 + i * 5_000, [
        reading("primary", i),
        reading("replica_1", 2 * i),
      ]);
    expect(h.length).toBe(180);
    const { samples } = h.snapshot();
    expect(samples).toHaveLength(180);
    expect(Date.parse(samples[0]!.at)).toBe(t0 + (day - 180) * 5_000);
    expect(Date.parse(samples[179]!.at)).toBe(t0 + (day - 1) * 5_000);
    // JSON size stays bounded too: 180 samples of 2 nodes.
    expect(JSON.stringify(h.snapshot()).length).toBeLessThan(40_000);
  });

  it("turns cumulative read counters into reads per interval, and shares over the last minute", () => {
    const h = new History(5_000);
    const t0 = 1_000_000;
    // 20 samples: primary +1 read per interval, replica_1 +3.
    for (let i = 0; i < 20; i++)
      h.record(t0 + i * 5_000, [
        reading("primary", i),
        reading("replica_1", 3 * i),
      ]);
    const snap = h.snapshot();
    expect(snap.samples[0]!.nodes.primary!.reads).toBe(0); // no earlier sample
    expect(snap.samples[5]!.nodes.replica_1!.reads).toBe(3);
    expect(snap.readShareLastMinute.primary).toBeCloseTo(0.25);
    expect(snap.readShareLastMinute.replica_1).toBeCloseTo(0.75);
  });

  it("a node whose counter restarts (removed and added again) counts from zero, never negative", () => {
    const h = new History(5_000);
    h.record(0, [reading("replica_3", 500)]);
    h.record(5_000, [reading("replica_3", 4)]);
    h.record(10_000, [reading("replica_3", 9)]);
    const reads = h.snapshot().samples.map((s) => s.nodes.replica_3!.reads);
    expect(reads).toEqual([0, 0, 5]);
  });

  it("no reads in the last minute: no shares (not a division by zero)", () => {
    const h = new History(5_000);
    h.record(0, [reading("primary", 7)]);
    h.record(5_000, [reading("primary", 7)]);
    expect(h.snapshot().readShareLastMinute).toEqual({});
  });
});

describe("EventLog", () => {
  it(`keeps the last ${EVENT_CAPACITY} events, newest first, over a long run`, () => {
    let now = 0;
    const log = new EventLog(() => now);
    const logger = log.tee(silentLogger);
    for (let i = 0; i < 100_000; i++) {
      now += 1_000;
      logger.warn("circuit breaker state changed", {
        node: "replica_1",
        from: "closed",
        to: "open",
        reason: `failure ${i}`,
      });
    }
    const { events } = log.snapshot(true);
    expect(events).toHaveLength(EVENT_CAPACITY);
    expect(events[0]!.message).toContain("failure 99999");
    expect(events[EVENT_CAPACITY - 1]!.message).toContain(
      `failure ${100_000 - EVENT_CAPACITY}`,
    );
    expect(Date.parse(events[0]!.at)).toBe(now);
  });

  it("records health changes, breaker transitions, classifier misses and admin changes, and nothing else", () => {
    const log = new EventLog(() => 0);
    const lines: string[] = [];
    const logger = log.tee({
      info: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      error: (m) => lines.push(m),
    });
    logger.warn("node health changed", {
      node: "replica_2",
      from: "healthy",
      to: "unhealthy",
      reason: "ECONNREFUSED",
    });
    logger.warn("classifier miss: a replica refused a statement as a write", {
      node: "replica_1",
      endpoint: "finance.sumRevenues",
      shape: "SELECT my_func($1)",
    });
    logger.info("admin: opened a circuit", {
      target: "main:replica_2",
      version: 4,
      actor: "ops@example.com",
    });
    logger.info("fleet control: setting applied from the store", {
      key: "reads",
      version: 5,
    });
    logger.info("listening", { url: "http://127.0.0.1:4000" });
    // Every line still reaches the wrapped logger.
    expect(lines).toHaveLength(5);
    const events = log.snapshot(true).events;
    expect(events.map((e) => [e.kind, e.level, e.node])).toEqual([
      ["admin", "info", null],
      ["admin", "info", null],
      ["classifier", "warn", "replica_1"],
      ["health", "warn", "replica_2"],
    ]);
    expect(events[1]!.message).toBe(
      "opened a circuit: main:replica_2 by ops@example.com",
    );
    expect(events[3]!.message).toBe(
      "replica_2: healthy → unhealthy (ECONNREFUSED)",
    );
  });
});

describe("EventLog for callers without the monitoring token", () => {
  it("shows no actor and no error text; token holders see both", () => {
    const events = new EventLog();
    const log = events.tee(silentLogger);
    log.info("admin: switched replica reads", {
      target: "all endpoints",
      actor: "alice.admin@example.com",
    });
    log.warn("node health changed", {
      node: "replica_1",
      from: "healthy",
      to: "unhealthy",
      reason: '28000: role "ghost_user" does not exist',
    });
    log.warn("circuit breaker state changed", {
      node: "replica_1",
      from: "closed",
      to: "open",
      reason: "3 consecutive failures: connect ECONNREFUSED 10.0.0.12:5432",
    });
    const open = events.snapshot(false).events.map((e) => e.message);
    expect(open).toEqual([
      "replica_1: circuit closed → open",
      "replica_1: healthy → unhealthy",
      "switched replica reads: all endpoints",
    ]);
    const full = JSON.stringify(events.snapshot(true));
    for (const detail of ["alice.admin@example.com", "ghost_user", "10.0.0.12"])
      expect(full).toContain(detail);
  });
});

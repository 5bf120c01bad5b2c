/**
 * The hedge schedule (reads waiting for their hedge time, one timer for the
 * earliest) and the hedge budget (load and waste buckets), with manual
 * timers and no I/O.
 */
import { describe, expect, it } from "vitest";
import { HedgeBudget } from "../../backend/database/router/reads/hedge_budget";
import {
  HedgeSchedule,
  type Hedgeable,
} from "../../backend/database/router/reads/hedge_schedule";
import { ManualTimers } from "./helpers/controlled_pool";

function item(dueMs: number, fired: number[]): Hedgeable {
  return {
    dueMs,
    prevDue: null,
    nextDue: null,
    scheduled: false,
    fallDue: () => void fired.push(dueMs),
  };
}

describe("HedgeSchedule", () => {
  it("launches reads in due order, also one added with an earlier time than those waiting, re-arming its one timer", () => {
    const timers = new ManualTimers();
    const schedule = new HedgeSchedule(timers);
    const fired: number[] = [];
    schedule.add(item(30, fired));
    schedule.add(item(40, fired));
    schedule.add(item(10, fired)); // the delay dropped meanwhile
    schedule.add(item(20, fired));
    expect(timers.armed).toBe(1);
    timers.advance(15);
    expect(fired).toEqual([10]);
    timers.advance(20);
    expect(fired).toEqual([10, 20, 30]);
    expect(timers.armed).toBe(1);
    timers.advance(10);
    expect(fired).toEqual([10, 20, 30, 40]);
    expect(timers.armed).toBe(0);
  });

  it("a read whose hedge throws goes unhedged; the others still fall due and the timer re-arms (nothing escapes the timer)", () => {
    const timers = new ManualTimers();
    const schedule = new HedgeSchedule(timers);
    const fired: number[] = [];
    schedule.add({
      ...item(10, fired),
      fallDue: () => {
        throw new Error("no target");
      },
    });
    schedule.add(item(12, fired));
    schedule.add(item(50, fired));
    expect(() => timers.advance(20)).not.toThrow();
    expect(fired).toEqual([12]);
    expect(timers.armed).toBe(1);
    timers.advance(40);
    expect(fired).toEqual([12, 50]);
  });

  it("a removed read never falls due, and removing is idempotent", () => {
    const timers = new ManualTimers();
    const schedule = new HedgeSchedule(timers);
    const fired: number[] = [];
    const a = item(10, fired);
    const b = item(20, fired);
    schedule.add(a);
    schedule.add(b);
    schedule.remove(a);
    schedule.remove(a);
    expect(schedule.size).toBe(1);
    timers.advance(30);
    expect(fired).toEqual([20]);
    expect(schedule.size).toBe(0);
    schedule.add(item(50, fired));
    schedule.clear();
    expect(timers.armed).toBe(0);
  });
});

describe("HedgeBudget", () => {
  it("caps hedges at `ratio` of reads after a burst", () => {
    const budget = new HedgeBudget(0.05, 20);
    let sent = 0;
    for (let i = 0; i < 1_000; i++) {
      budget.deposit();
      if (budget.withdraw()) {
        sent++;
        budget.won();
      }
    }
    // 20 at once, then one per 20 reads (wins keep the waste bucket full).
    expect(sent).toBeGreaterThanOrEqual(65);
    expect(sent).toBeLessThanOrEqual(71);
  });

  it("hedges that lose stop after `wasteBurst`, then stay under a fifth of the ratio", () => {
    const budget = new HedgeBudget(0.05, 20);
    let sent = 0;
    for (let i = 0; i < 10_000; i++) {
      budget.deposit();
      if (budget.withdraw()) sent++; // never won
    }
    // 10 back to back, then 0.01 per read.
    expect(sent).toBeGreaterThanOrEqual(105);
    expect(sent).toBeLessThanOrEqual(110);
  });

  it("is off at ratio 0", () => {
    const budget = new HedgeBudget(0, 20);
    budget.deposit();
    expect(budget.enabled).toBe(false);
    expect(budget.mayHedge).toBe(false);
    expect(budget.withdraw()).toBe(false);
  });
});

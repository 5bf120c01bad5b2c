/**
 * The process's event-loop delay as the stall watch and the status page
 * read it: a loop blocked for a while shows at least that long (minus the
 * sampling interval) in the recent maximum, and in the last whole second's
 * figures once that second is over.
 */
import { afterEach, describe, expect, it } from "vitest";
import { EventLoopDelayMonitor } from "../../backend/database/router/support/event_loop_delay";

const BLOCK_MS = 150;

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else runs on this loop
  }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

let monitor: EventLoopDelayMonitor | null = null;
afterEach(() => monitor?.stop());

describe("EventLoopDelayMonitor", () => {
  it("a blocked loop shows in the recent maximum, then in the last second's figures", async () => {
    monitor = new EventLoopDelayMonitor();
    monitor.start();
    await tick(30);
    blockFor(BLOCK_MS);
    await tick(30); // the histogram's timer runs once the loop is free
    // Sampled every 10 ms, the block shows as at least BLOCK_MS - 10 ms; half of it is a safe floor.
    expect(monitor.recentMaxMs()).toBeGreaterThanOrEqual(BLOCK_MS / 2);
    // At the end of the window that held the block, it becomes the last
    // whole second's figures (seen at the first rotation after it).
    let seen = 0;
    for (let i = 0; i < 100 && seen < BLOCK_MS / 2; i++) {
      await tick(50);
      seen = monitor.figures().maxMs;
    }
    expect(seen).toBeGreaterThanOrEqual(BLOCK_MS / 2);
  });

  it("a pause that starts right at a window's end is still seen (the gap in progress counts)", async () => {
    monitor = new EventLoopDelayMonitor();
    monitor.start();
    // Blocks of BLOCK_MS at 7 points spread over a window: wherever the
    // window boundary falls, each one shows in the recent maximum.
    for (let i = 0; i < 7; i++) {
      await tick(150);
      blockFor(BLOCK_MS);
      // While the gap is in progress, and once the sampler has recorded it
      // (perhaps into a window that has just been rotated).
      expect(monitor.recentMaxMs()).toBeGreaterThanOrEqual(BLOCK_MS / 2);
      await tick(20);
      expect(monitor.recentMaxMs()).toBeGreaterThanOrEqual(BLOCK_MS / 2);
    }
  });

  it("an idle loop reads as no delay past the sampling interval, and stop() ends the sampling", async () => {
    monitor = new EventLoopDelayMonitor();
    expect(monitor.recentMaxMs()).toBe(0);
    expect(monitor.figures()).toEqual({ p99Ms: 0, maxMs: 0 });
    monitor.start();
    monitor.stop();
    monitor.stop(); // twice is fine
    // A restart forgets what happened while it was stopped.
    blockFor(BLOCK_MS);
    monitor.start();
    expect(monitor.recentMaxMs()).toBeLessThan(BLOCK_MS / 2);
    expect(monitor.figures()).toEqual({ p99Ms: 0, maxMs: 0 });
  });
});

/**
 * LatencyWindow's quantiles are those of a sorted copy of the kept samples
 * (selected, not sorted), refreshed once every RECOMPUTE_EVERY samples.
 */
import { describe, expect, it } from "vitest";
import {
  LatencyWindow,
  RECOMPUTE_EVERY,
} from "../../backend/database/router/nodes/latency_window";

/** The quantile as a sort gives it: the smallest value with `q` of the samples at or below it. */
function sortedQuantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.min(s.length - 1, Math.ceil(q * s.length) - 1))]!;
}

/** A deterministic pseudo-random sequence (with repeats: whole milliseconds). */
function samples(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 48271) % 2147483647;
    return x % 7 === 0 ? 40 + (x % 400) : x % 13;
  });
}

describe("LatencyWindow", () => {
  it("answers null below the minimum number of samples", () => {
    const w = new LatencyWindow(8);
    for (let i = 0; i < 4; i++) w.record(i);
    expect(w.percentile(0.5, 5)).toBeNull();
    w.record(9);
    expect(w.percentile(0.5, 5)).toBe(2);
  });

  it("selects the same quantiles as a sort, for every rank, with repeated values", () => {
    for (const seed of [1, 7, 42, 1234]) {
      const values = samples(256, seed);
      const w = new LatencyWindow(256);
      for (const v of values) w.record(v);
      for (const q of [0, 0.01, 0.25, 0.5, 0.5, 0.9, 0.99, 0.999, 1])
        expect(w.percentile(q)).toBe(sortedQuantile(values, q));
      // Every rank, asked in an order that reuses the partly ordered snapshot.
      for (let k = 255; k >= 0; k -= 3)
        expect(w.percentile((k + 1) / 256)).toBe(
          sortedQuantile(values, (k + 1) / 256),
        );
    }
  });

  it("keeps only the newest samples, and refreshes its answer once every RECOMPUTE_EVERY samples", () => {
    const w = new LatencyWindow(64);
    for (let i = 0; i < 64; i++) w.record(1);
    expect(w.percentile(1)).toBe(1);
    for (let i = 0; i < RECOMPUTE_EVERY - 1; i++) w.record(500);
    expect(w.percentile(1)).toBe(1); // not refreshed yet
    w.record(500);
    expect(w.percentile(1)).toBe(500);
    expect(w.percentile(0.5)).toBe(1); // 32 ones, then 32 × 500
    expect(w.percentile(0.51)).toBe(500);
    for (let i = 0; i < 64; i++) w.record(3);
    expect(w.percentile(0.99)).toBe(3); // the 1s and 500s were overwritten
    expect(w.size).toBe(64);
  });
});

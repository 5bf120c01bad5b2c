/**
 * The most recent read latencies of one node (or one cluster), with a cached
 * percentile: recording is O(1) and allocation-free; the percentile is
 * recomputed from a sorted copy once every {@link RECOMPUTE_EVERY} samples,
 * so a read pays a fraction of a microsecond for it.
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  /** Sorted copy, reused by every percentile computation (no allocation). */
  private readonly scratch: Float64Array;
  private count = 0;
  private next = 0;
  private sinceRecompute = 0;
  /** How many samples `scratch` holds sorted (0 = none yet). */
  private sortedCount = 0;

  /** @param size samples kept (default 256). */
  constructor(size = 256) {
    this.samples = new Float64Array(size);
    this.scratch = new Float64Array(size);
  }

  /** Samples recorded and kept (at most the window size). */
  get size(): number {
    return this.count;
  }

  /** Adds one latency in milliseconds. */
  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
    this.sinceRecompute++;
  }

  /**
   * The `q` quantile (0..1) of the kept samples in ms, or null with fewer
   * than `minSamples`. The samples are re-sorted at most once per
   * {@link RECOMPUTE_EVERY} new ones, whatever quantiles are asked for.
   */
  percentile(q: number, minSamples = 20): number | null {
    if (this.count < minSamples) return null;
    if (
      this.sortedCount < minSamples ||
      this.sinceRecompute >= RECOMPUTE_EVERY
    ) {
      const sorted = this.scratch.subarray(0, this.count);
      sorted.set(this.samples.subarray(0, this.count));
      sorted.sort();
      this.sortedCount = this.count;
      this.sinceRecompute = 0;
    }
    // From the last sort: at most RECOMPUTE_EVERY samples old.
    const n = this.sortedCount;
    return this.scratch[Math.max(0, Math.min(n - 1, Math.ceil(q * n) - 1))]!;
  }
}

/** Samples between two percentile computations. */
export const RECOMPUTE_EVERY = 32;

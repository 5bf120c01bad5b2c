/**
 * The most recent read latencies of one node (or one cluster), with cached
 * quantiles: recording is O(1) and allocation-free; a quantile is selected
 * in linear time (a p99 by one pass keeping the largest few, any other by
 * quickselect on a copy) and remembered until {@link RECOMPUTE_EVERY} new
 * samples came in. The hedge delay asks for the cluster's p99 on every read,
 * so this is on the read path: a full sort of 256 samples every 32 reads
 * cost about 20 µs, i.e. most of a microsecond per read.
 */
export class LatencyWindow {
  // Single precision: half the memory a read and a recompute touch, and
  // far finer than the microsecond the latencies mean anything to.
  private readonly samples: Float32Array;
  /** A copy for quickselect, which reorders it in place (it stays a permutation). */
  private readonly scratch: Float32Array;
  private count = 0;
  private next = 0;
  private sinceRecompute = 0;
  /** How many samples the current generation of answers is over (0 = none yet). */
  private answeredCount = 0;
  /** True once `scratch` holds this generation's copy. */
  private copied = false;
  /** The last rank selected in this generation (-1: none) and its value: most callers ask for one quantile. */
  private lastRank = -1;
  private lastValue = 0;
  /** Other ranks selected in this generation, and their values (few distinct quantiles are asked). */
  private readonly selectedRanks: number[] = [];
  private readonly selectedValues: number[] = [];

  /** @param size samples kept (default 256). */
  constructor(size = 256) {
    this.samples = new Float32Array(size);
    this.scratch = new Float32Array(size);
  }

  /** Samples recorded and kept (at most the window size). */
  get size(): number {
    return this.count;
  }

  /** Adds one latency in milliseconds. */
  record(ms: number): void {
    this.samples[this.next] = ms;
    if (++this.next === this.samples.length) this.next = 0;
    if (this.count < this.samples.length) this.count++;
    this.sinceRecompute++;
  }

  /**
   * The `q` quantile (0..1) of the kept samples in ms (the smallest sample
   * with at least `q` of them at or below it), or null with fewer than
   * `minSamples`. Answers are recomputed at most once per
   * {@link RECOMPUTE_EVERY} new samples, whatever quantiles are asked for.
   */
  percentile(q: number, minSamples = 20): number | null {
    if (this.count < minSamples) return null;
    if (
      this.answeredCount < minSamples ||
      this.sinceRecompute >= RECOMPUTE_EVERY
    ) {
      this.answeredCount = this.count;
      this.sinceRecompute = 0;
      this.copied = false;
      this.lastRank = -1;
      if (this.selectedRanks.length > 0) {
        this.selectedRanks.length = 0;
        this.selectedValues.length = 0;
      }
    }
    // At most RECOMPUTE_EVERY samples old.
    const n = this.answeredCount;
    const rank = Math.max(0, Math.min(n - 1, Math.ceil(q * n) - 1));
    if (rank === this.lastRank) return this.lastValue;
    for (let i = 0; i < this.selectedRanks.length; i++)
      if (this.selectedRanks[i] === rank) return this.selectedValues[i]!;
    let value: number;
    if (n - 1 - rank < SCAN_TOP) {
      // A high quantile (p99): one pass over the samples as they are.
      value = largest(this.samples, n, n - 1 - rank);
    } else {
      if (!this.copied) {
        this.scratch.set(this.samples.subarray(0, n));
        this.copied = true;
      }
      value = quickselect(this.scratch, n, rank);
    }
    if (this.lastRank !== -1) {
      this.selectedRanks.push(this.lastRank);
      this.selectedValues.push(this.lastValue);
    }
    this.lastRank = rank;
    this.lastValue = value;
    return value;
  }
}

/** Samples between two percentile computations. */
export const RECOMPUTE_EVERY = 32;

/** Within this many ranks of the top, a quantile is found by one scan instead of quickselect. */
const SCAN_TOP = 8;

/** The (`k`+1)-th largest of `a[0..n)`, `k` < {@link SCAN_TOP}, without reordering `a`. */
function largest(a: Float32Array, n: number, k: number): number {
  // top[0..kept) holds the largest seen so far, in descending order.
  const top = TOP;
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (kept > k && v <= top[k]!) continue;
    let j = kept <= k ? kept++ : k;
    while (j > 0 && top[j - 1]! < v) {
      top[j] = top[j - 1]!;
      j--;
    }
    top[j] = v;
  }
  return top[k]!;
}
const TOP = new Float32Array(SCAN_TOP);

/** The `rank`-th smallest of `a[0..n)` by quickselect (median-of-three pivot); reorders `a[0..n)`. */
function quickselect(a: Float32Array, n: number, rank: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    // Order a[lo] <= a[mid] <= a[hi]; the median is the pivot.
    if (a[mid]! < a[lo]!) swap(a, mid, lo);
    if (a[hi]! < a[lo]!) swap(a, hi, lo);
    if (a[hi]! < a[mid]!) swap(a, hi, mid);
    const pivot = a[mid]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) swap(a, i++, j--);
    }
    // a[lo..j] <= pivot <= a[i..hi]; anything between equals the pivot.
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else return a[rank]!;
  }
  return a[rank]!;
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

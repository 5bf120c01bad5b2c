/**
 * The most recent read latencies of one node (or one cluster), with cached
 * quantiles: recording is O(1) and allocation-free; quantiles come from a
 * snapshot of the samples taken once every {@link RECOMPUTE_EVERY} samples,
 * each selected in linear time (quickselect) and remembered until the next
 * snapshot. A read pays a few nanoseconds for it (a full sort of 256 samples
 * costs about 20 µs; a p99 one pass of a fraction of a microsecond, any
 * other quantile a quickselect of a microsecond or two).
 */
export class LatencyWindow {
  private readonly samples: Float64Array;
  /** The snapshot; selections reorder it in place (it stays a permutation). */
  private readonly scratch: Float64Array;
  private count = 0;
  private next = 0;
  private sinceRecompute = 0;
  /** How many samples the snapshot holds (0 = none yet). */
  private snapshotCount = 0;
  /** Ranks already selected from the snapshot, and their values (few distinct quantiles are asked). */
  private readonly selectedRanks: number[] = [];
  private readonly selectedValues: number[] = [];

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
    if (++this.next === this.samples.length) this.next = 0;
    if (this.count < this.samples.length) this.count++;
    this.sinceRecompute++;
  }

  /**
   * The `q` quantile (0..1) of the kept samples in ms (the smallest sample
   * with at least `q` of them at or below it), or null with fewer than
   * `minSamples`. The snapshot is retaken at most once per
   * {@link RECOMPUTE_EVERY} new samples, whatever quantiles are asked for.
   */
  percentile(q: number, minSamples = 20): number | null {
    if (this.count < minSamples) return null;
    if (
      this.snapshotCount < minSamples ||
      this.sinceRecompute >= RECOMPUTE_EVERY
    ) {
      const n = this.count;
      if (n === this.samples.length) this.scratch.set(this.samples);
      else for (let i = 0; i < n; i++) this.scratch[i] = this.samples[i]!;
      this.snapshotCount = n;
      this.sinceRecompute = 0;
      this.selectedRanks.length = 0;
      this.selectedValues.length = 0;
    }
    // From the last snapshot: at most RECOMPUTE_EVERY samples old.
    const n = this.snapshotCount;
    const rank = Math.max(0, Math.min(n - 1, Math.ceil(q * n) - 1));
    for (let i = 0; i < this.selectedRanks.length; i++)
      if (this.selectedRanks[i] === rank) return this.selectedValues[i]!;
    const value = select(this.scratch, n, rank);
    this.selectedRanks.push(rank);
    this.selectedValues.push(value);
    return value;
  }
}

/** Samples between two percentile computations. */
export const RECOMPUTE_EVERY = 32;

/** Above this many ranks from the top, a quantile is found by quickselect instead of a scan. */
const SCAN_TOP = 8;

/**
 * The `rank`-th smallest of `a[0..n)` (0-based). A rank near the top (a
 * p99 of a few hundred samples) is found in one pass keeping the largest
 * few; any other by quickselect, which reorders `a[0..n)` in place.
 */
function select(a: Float64Array, n: number, rank: number): number {
  const fromTop = n - 1 - rank;
  return fromTop < SCAN_TOP ? largest(a, n, fromTop) : quickselect(a, n, rank);
}

/** The (`k`+1)-th largest of `a[0..n)`, `k` < {@link SCAN_TOP}, without reordering `a`. */
function largest(a: Float64Array, n: number, k: number): number {
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
const TOP = new Float64Array(SCAN_TOP);

/** The `rank`-th smallest of `a[0..n)` by quickselect (median-of-three pivot); reorders `a[0..n)`. */
function quickselect(a: Float64Array, n: number, rank: number): number {
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

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}

/**
 * Zipf-distributed keys for the cache scenario: rank k of 1..n is drawn
 * with probability proportional to k^-s, by inverting the cumulative
 * distribution (binary search over a precomputed table).
 */

/** A Zipf(s) distribution over ranks 1..n. */
export interface Zipf {
  /** Rank (1..n) for a uniform `u` in [0, 1). */
  rank(u: number): number;
  /** Probability that a draw lands in ranks 1..k. */
  topShare(k: number): number;
}

/**
 * Zipf(`s`) over 1..`n`.
 * @throws RangeError when `n` is not a positive integer or `s` is negative.
 */
export function zipf(n: number, s: number): Zipf {
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError("zipf: n must be a positive integer");
  if (!(s >= 0)) throw new RangeError("zipf: s must be non-negative");
  const cdf = new Float64Array(n);
  let total = 0;
  for (let k = 1; k <= n; k++) {
    total += k ** -s;
    cdf[k - 1] = total;
  }
  for (let i = 0; i < n; i++) cdf[i] = cdf[i]! / total;
  return {
    rank(u) {
      // First index whose cumulative probability exceeds u.
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid]! > u) hi = mid;
        else lo = mid + 1;
      }
      return lo + 1;
    },
    topShare(k) {
      return k < 1 ? 0 : cdf[Math.min(n, k) - 1]!;
    },
  };
}

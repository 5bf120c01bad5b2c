import type { DbNode } from "../router/index";

const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  10,
] as const;

/** One histogram series kept as plain numbers: per-bucket (not cumulative) counts, sum, count. */
interface DurationSeries {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** One sample of the exposition, in the shape prom-client's registry renders. */
export interface HistogramSample {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * Statement latency per node and kind, as plain numbers: `observe` adds to a
 * per-bucket count (no label strings, no prom-client call), and `samples`
 * turns the counts into Prometheus histogram samples at scrape time.
 */
export class DurationHistogram {
  private readonly series = new Map<
    DbNode,
    { read: DurationSeries; write: DurationSeries }
  >();

  /** @param name metric name; samples are `<name>_bucket`, `<name>_sum`, `<name>_count`. */
  constructor(readonly name: string) {}

  /** Counts one statement of `kind` on `node` that took `seconds`. */
  observe(node: DbNode, kind: "read" | "write", seconds: number): void {
    let series = this.series.get(node);
    if (series === undefined) {
      series = { read: newSeries(), write: newSeries() };
      this.series.set(node, series);
    }
    const s = series[kind];
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }

  /** Samples in prom-client's exposition form: cumulative buckets, +Inf, sum, count. */
  samples(): HistogramSample[] {
    const values: HistogramSample[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [node, series] of this.series) {
      for (const kind of ["read", "write"] as const) {
        const s = series[kind];
        if (s.count === 0) continue;
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.counts[i]!;
          values.push({
            labels: { node: node.name, kind, le },
            value: cumulative,
            metricName: bucket,
          });
        });
        const labels = { node: node.name, kind };
        values.push({
          labels: { ...labels, le: "+Inf" },
          value: s.count,
          metricName: bucket,
        });
        values.push({
          labels,
          value: s.sum,
          metricName: `${this.name}_sum`,
        });
        values.push({
          labels,
          value: s.count,
          metricName: `${this.name}_count`,
        });
      }
    }
    return values;
  }
}

function newSeries(): DurationSeries {
  // One slot per bucket bound plus one for +Inf.
  return {
    counts: new Float64Array(DURATION_BUCKETS.length + 1),
    sum: 0,
    count: 0,
  };
}

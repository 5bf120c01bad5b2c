/**
 * Shared pieces of the benchmark suite: the scenario contract, bounded load
 * loops, latency statistics and markdown rendering. Nothing here asserts an
 * absolute time: scenarios compare variants measured in alternating rounds
 * of one run, and report medians over rounds.
 */
import { performance } from "node:perf_hooks";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";

/** One markdown table. */
export interface Table {
  /** Printed in bold above the table. */
  readonly title?: string;
  readonly headers: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

/** What a scenario hands back to the report. */
export interface Section {
  readonly id: string;
  readonly title: string;
  /** Paragraphs before the tables: what was measured and how. */
  readonly method: readonly string[];
  readonly tables: readonly Table[];
  /** Bullets after the tables: goals, observations, caveats. */
  readonly notes: readonly string[];
}

/** The seeded finance rows every scenario may read. */
export interface Seed {
  /** Orgs 1..100, ~100 revenues each. */
  readonly orgIds: readonly number[];
  /** (org_id, id) of every seeded revenue, for point reads. */
  readonly orgOf: Int32Array;
  readonly idOf: Float64Array;
}

/** Everything a scenario gets from the runner. */
export interface BenchContext {
  readonly cluster: LocalCluster;
  readonly quick: boolean;
  readonly repoRoot: string;
  readonly seed: Seed;
  log(line: string): void;
}

/** A scenario of the suite. */
export type Scenario = (ctx: BenchContext) => Promise<Section>;

/** SQL of the point read used by the overhead, failover and read-your-writes scenarios. */
export const POINT_SQL =
  "SELECT id, amount_cents, currency, status FROM revenues WHERE org_id = $1 AND id = $2";

/** Small, fast, seedable PRNG (mulberry32): reproducible key sequences per worker. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Outcome of {@link runLoad}. */
export interface LoadResult {
  /** Operations that resolved. */
  readonly ops: number;
  /** Operations that threw. */
  readonly errors: number;
  /** Wall time from the first start to the last completion. */
  readonly elapsedMs: number;
  /** Latency of every successful operation in ms, sorted ascending. */
  readonly latenciesMs: Float64Array;
}

/**
 * Runs `op` from `concurrency` workers until `durationMs` has passed or
 * `maxOps` were issued, whichever comes first; records per-operation
 * latency with performance.now().
 */
export async function runLoad(opts: {
  concurrency: number;
  durationMs: number;
  maxOps: number;
  op: (worker: number) => Promise<unknown>;
}): Promise<LoadResult> {
  const lat = new Float64Array(opts.maxOps);
  let issued = 0;
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const deadline = start + opts.durationMs;
  const worker = async (w: number): Promise<void> => {
    while (issued < opts.maxOps && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        await opts.op(w);
        lat[ok++] = performance.now() - t0;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(
    Array.from({ length: opts.concurrency }, (_, w) => worker(w)),
  );
  const elapsedMs = performance.now() - start;
  return {
    ops: ok,
    errors,
    elapsedMs,
    latenciesMs: lat.subarray(0, ok).sort(),
  };
}

/**
 * Latency of several variants under identical conditions: `concurrency`
 * workers each rotate through `ops` one operation at a time (worker w's i-th
 * operation is variant (i + w) mod n), until `durationMs` or `maxOps`.
 * @returns per variant, the sorted latencies (ms) of its successful operations.
 */
export async function runInterleaved(opts: {
  concurrency: number;
  durationMs: number;
  maxOps: number;
  ops: ReadonlyArray<() => Promise<unknown>>;
}): Promise<{ latenciesMs: Float64Array[]; errors: number }> {
  const n = opts.ops.length;
  const lat = opts.ops.map(() => new Float64Array(opts.maxOps));
  const count = opts.ops.map(() => 0);
  let issued = 0;
  let errors = 0;
  const deadline = performance.now() + opts.durationMs;
  const worker = async (w: number): Promise<void> => {
    for (let i = 0; issued < opts.maxOps && performance.now() < deadline; i++) {
      issued++;
      const v = (i + w) % n;
      const t0 = performance.now();
      try {
        await opts.ops[v]!();
        lat[v]![count[v]!++] = performance.now() - t0;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(
    Array.from({ length: opts.concurrency }, (_, w) => worker(w)),
  );
  return {
    latenciesMs: lat.map((a, v) => a.subarray(0, count[v]).sort()),
    errors,
  };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(
  sorted: Float64Array | readonly number[],
  p: number,
): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const i = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return sorted[i]!;
}

/** Median of `xs` (mean of the middle two for even counts); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Quantile `q` (0..1) of `xs` with linear interpolation; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const at = q * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

/** Median with the interquartile range of `xs`, e.g. "0.974 (0.95–0.99)". */
export function withIqr(
  xs: readonly number[],
  digits: number,
  sign = false,
): string {
  const f = sign ? signed : fmt;
  return `${f(median(xs), digits)} (${f(quantile(xs, 0.25), digits)}…${f(quantile(xs, 0.75), digits)})`;
}

/**
 * A goal verdict that admits noise. `control` holds the same statistic for
 * two variants doing identical work (an A/A comparison), whose true value is
 * `neutral` (1 for ratios, 0 for differences). Noise goes both ways, so the
 * control's interquartile range is mirrored around `neutral`: when any of it
 * fails `ok`, the machine cannot resolve the goal and the verdict says so.
 * Otherwise "met" when the whole IQR of `xs` satisfies `ok`, "missed" when
 * none of it does, else unresolved.
 */
export function verdict(
  xs: readonly number[],
  ok: (x: number) => boolean,
  control?: { values: readonly number[]; neutral: number },
): string {
  if (control !== undefined) {
    const spread = [0.25, 0.75].map((q) =>
      Math.abs(quantile(control.values, q) - control.neutral),
    );
    const noise = Math.max(...spread);
    if (!(ok(control.neutral - noise) && ok(control.neutral + noise))) {
      return "not resolved: identical-work variants already differ this much here";
    }
  }
  const lo = ok(quantile(xs, 0.25));
  const hi = ok(quantile(xs, 0.75));
  return lo && hi
    ? "met"
    : !lo && !hi
      ? "missed"
      : "not resolved: the IQR spans the goal";
}

/** `xs` rotated left by `k`: round r of an A/B/C comparison runs them in rotated order so no variant always goes first. */
export function rotate<T>(xs: readonly T[], k: number): T[] {
  const n = xs.length;
  return xs.map((_, i) => xs[(i + k) % n]!);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Fixed-point number, "–" for NaN/Infinity. */
export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

/** Integer with thousands separators. */
export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

/** Percentage of `part` in `whole`. */
export function pct(part: number, whole: number, digits = 1): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(digits)} %` : "–";
}

/** Signed number, e.g. "+12.3". */
export function signed(n: number, digits = 1): string {
  return Number.isFinite(n) ? (n >= 0 ? "+" : "") + n.toFixed(digits) : "–";
}

/** A markdown table. */
export function renderTable(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, "\\|");
  const lines: string[] = [];
  if (t.title !== undefined) lines.push(`**${t.title}**`, "");
  lines.push(`| ${t.headers.map(esc).join(" | ")} |`);
  lines.push(
    `|${t.headers.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
  );
  for (const row of t.rows) lines.push(`| ${row.map(esc).join(" | ")} |`);
  return lines.join("\n");
}

/** A whole section as markdown; under its title, the command that runs it alone. */
export function renderSection(s: Section, index: number): string {
  const parts = [
    `## ${index}. ${s.title}`,
    "",
    `_Alone: \`npm run bench -- --only ${s.id}\`; machine, date and commit as at the top._`,
    "",
  ];
  for (const p of s.method) parts.push(p, "");
  for (const t of s.tables) parts.push(renderTable(t), "");
  if (s.notes.length > 0)
    parts.push(s.notes.map((n) => `- ${n}`).join("\n"), "");
  return parts.join("\n");
}

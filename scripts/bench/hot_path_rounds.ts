/**
 * The hot-path benchmark's method (from read_path_profile.ts): variants
 * take turns in short segments, a fresh shuffled order each round, so
 * background load that drifts over seconds hits them alike; tables then
 * show medians over rounds of each variant's figures and of its per-round
 * ratio or difference to a base variant measured in the same round.
 */
import { performance } from "node:perf_hooks";
import type { BenchContext } from "./common";
import { median } from "./common";

/** Rows of hot_path_bench, ids 1..ROWS. */
export const ROWS = 10_000;

/** A way of doing the operation under test. */
export interface Variant {
  readonly name: string;
  /** One operation on row `id`. */
  readonly op: (id: number) => Promise<unknown>;
  /**
   * Set when only part of the operation counts (a read after its write):
   * `op` then resolves to that part's time in ms. Unset, the whole
   * operation is timed.
   */
  readonly timesItself?: boolean;
  /** Counters read around each segment (hedges sent, stale reads, ...); their growth is kept per segment. */
  readonly counters?: () => Readonly<Record<string, number>>;
}

/** What one variant did in one segment. */
export interface Segment {
  /** Operations completed. */
  readonly ops: number;
  /** Operations that threw. */
  readonly errors: number;
  /** Completed operations per second of wall time. */
  readonly rate: number;
  /** Timed parts per second of the workers' time spent in them (c ÷ mean timed ms); about `rate` when the whole operation is timed. */
  readonly timedRate: number;
  /** This process's user+system CPU per completed operation, µs. */
  readonly cpuUs: number;
  /** Median and 99th percentile of the timed part, ms. */
  readonly p50: number;
  readonly p99: number;
  /** Growth of each of the variant's counters during the segment. */
  readonly counts: Readonly<Record<string, number>>;
}

/**
 * Runs `v` from `c` workers for `ms`. Worker w's ids are 1 + w + c·k for
 * random k: concurrent workers never touch the same row (no lock waits
 * between writers), and together they cover the table.
 */
export async function segment(
  v: Variant,
  c: number,
  ms: number,
): Promise<Segment> {
  const lat: number[] = [];
  let errors = 0;
  const slots = Math.floor(ROWS / c);
  const before = v.counters?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    Array.from({ length: c }, async (_, w) => {
      let x = 7919 * (w + 1);
      while (performance.now() < end) {
        x = (x * 48271) % 2147483647;
        const s = performance.now();
        try {
          const part = await v.op(1 + w + c * (x % slots));
          lat.push(v.timesItself ? (part as number) : performance.now() - s);
        } catch {
          errors++;
        }
      }
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = v.counters?.();
  const counts: Record<string, number> = {};
  for (const k of Object.keys(after ?? {}))
    counts[k] = after![k]! - (before?.[k] ?? 0);
  lat.sort((a, b) => a - b);
  const n = lat.length;
  const timedMs = lat.reduce((a, b) => a + b, 0);
  return {
    ops: n,
    errors,
    rate: (n * 1000) / wall,
    timedRate: (c * n * 1000) / timedMs,
    cpuUs: (cpu.user + cpu.system) / n,
    p50: lat[Math.ceil(0.5 * n) - 1] ?? NaN,
    p99: lat[Math.ceil(0.99 * n) - 1] ?? NaN,
    counts,
  };
}

let shuffleState = 12345;
/** A pseudo-random permutation (seeded: the same sequence every run). */
export function shuffled<T>(xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    shuffleState = (shuffleState * 48271) % 2147483647;
    const j = shuffleState % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** How long a table's measurement runs. */
export interface Shape {
  readonly rounds: number;
  readonly segmentMs: number;
}

/** Rounds and segment length: short with --quick. */
export function shape(ctx: BenchContext): Shape {
  return ctx.quick
    ? { rounds: 4, segmentMs: 150 }
    : { rounds: 16, segmentMs: 400 };
}

/** Every variant once at c = 16 (pools open, JIT warm). */
export async function warmUp(
  variants: readonly Variant[],
  ms: number,
): Promise<void> {
  for (const v of variants) await segment(v, 16, ms);
}

/** Per variant, its segments: `rounds` rounds at concurrency `c`, each running every variant once in a fresh order. */
export async function runRounds(
  variants: readonly Variant[],
  c: number,
  s: Shape,
): Promise<Map<string, Segment[]>> {
  const results = new Map<string, Segment[]>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < s.rounds; round++) {
    // A fresh order each round: no variant always follows the same one
    // (and inherits its garbage or its connections' leftovers).
    for (const v of shuffled(variants))
      results.get(v.name)!.push(await segment(v, c, s.segmentMs));
  }
  return results;
}

/** Per round, `f` of a variant's segment and the base's segment of the same round. */
export function perRound(
  segs: readonly Segment[],
  base: readonly Segment[],
  f: (s: Segment, b: Segment) => number,
): number[] {
  return segs.map((s, i) => f(s, base[i]!));
}

/** Median over segments of `f`. */
export function med(segs: readonly Segment[], f: (s: Segment) => number) {
  return median(segs.map(f));
}

/** Sum over segments of a counter. */
export function total(segs: readonly Segment[], counter: string): number {
  return segs.reduce((a, s) => a + (s.counts[counter] ?? 0), 0);
}

/**
 * One verdict from several goals, each named: "met" when all are met,
 * "missed: <names>" when any is missed, else the first unresolved one's
 * words with its name.
 */
export function allOf(parts: ReadonlyArray<readonly [string, string]>) {
  const missed = parts.filter(([, v]) => v === "missed").map(([n]) => n);
  if (missed.length > 0) return `missed: ${missed.join(", ")}`;
  const open = parts.find(([, v]) => v !== "met");
  return open === undefined ? "met" : `${open[0]} ${open[1]}`;
}

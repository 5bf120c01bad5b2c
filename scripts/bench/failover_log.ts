/**
 * The failover scenario's load driver and read log: CONCURRENCY workers read
 * in a loop while the victim replica is killed and restarted, and every read
 * is logged as (end time, node that served it or failure, latency); plus the
 * queries over that log the report needs.
 */
import { performance } from "node:perf_hooks";
import type { BenchContext } from "./common";
import { sleep } from "./common";

/** Concurrent readers. */
export const CONCURRENCY = 16;
/** How long the victim stays down. */
export const DOWN_MS = 5_000;
/** The replica that is killed. */
export const VICTIM = "replica_1";
/** Most reads one run logs. */
export const LOG_CAP = 4_000_000;
/** Node index in the read log; -1 = the read failed. */
const NODES = ["primary", "replica_1", "replica_2"] as const;

/** The per-read log of one run plus the schedule's timestamps (ms, performance.now()). */
export interface RunLog {
  n: number;
  tEnd: Float64Array;
  who: Int8Array;
  latMs: Float32Array;
  errors: string[];
  tStart: number;
  tKill: number;
  tKilled: number;
  tRestart: number;
  tUp: number;
  tStop: number;
}

/** When to kill, and when to stop after the restart. */
export interface Schedule {
  killAtMs: number;
  settleMs: number;
  maxAfterRestartMs: number;
}

/** An empty read log with room for `cap` reads. */
export function newLog(cap: number): RunLog {
  return {
    n: 0,
    tEnd: new Float64Array(cap),
    who: new Int8Array(cap),
    latMs: new Float32Array(cap),
    errors: [],
    tStart: performance.now(),
    tKill: Infinity,
    tKilled: Infinity,
    tRestart: Infinity,
    tUp: Infinity,
    tStop: Infinity,
  };
}

/**
 * Runs `read` from CONCURRENCY workers, kills the victim at `killAtMs`,
 * restarts it DOWN_MS later, and stops once the victim has served again for
 * `settleMs` (or `maxAfterRestartMs` after the restart).
 */
export async function drive(
  ctx: BenchContext,
  log: RunLog,
  read: (w: number) => Promise<string | null>,
  s: Schedule,
): Promise<RunLog> {
  const cap = log.tEnd.length;
  log.tStart = performance.now();
  let stop = false;
  let backAt = Infinity;
  const worker = async (w: number): Promise<void> => {
    while (!stop && log.n < cap) {
      const t0 = performance.now();
      let who = -1;
      try {
        const served = await read(w);
        who = NODES.indexOf((served ?? "") as (typeof NODES)[number]);
      } catch (err) {
        if (log.errors.length < 1000)
          log.errors.push(err instanceof Error ? err.message : String(err));
      }
      const t = performance.now();
      const i = log.n++;
      log.tEnd[i] = t;
      log.who[i] = who;
      log.latMs[i] = t - t0;
      if (who === 1 && t > log.tRestart && backAt === Infinity) backAt = t;
    }
  };
  const workers = Array.from({ length: CONCURRENCY }, (_, w) => worker(w));
  try {
    await sleep(s.killAtMs);
    log.tKill = performance.now();
    await ctx.cluster.stopNode(VICTIM, "immediate");
    log.tKilled = performance.now();
    await sleep(Math.max(0, log.tKill + DOWN_MS - performance.now()));
    log.tRestart = performance.now();
    await ctx.cluster.startNode(VICTIM);
    log.tUp = performance.now();
    const deadline = log.tRestart + s.maxAfterRestartMs;
    while (
      performance.now() < deadline &&
      !(backAt !== Infinity && performance.now() - backAt >= s.settleMs)
    )
      await sleep(50);
  } finally {
    stop = true;
    await Promise.all(workers);
    log.tStop = performance.now();
  }
  return log;
}

/** Reads per second ending in [from, to). */
export function rate(
  log: RunLog,
  from: number,
  to: number,
  who?: number,
): number {
  let k = 0;
  for (let i = 0; i < log.n; i++) {
    const t = log.tEnd[i]!;
    if (t >= from && t < to && (who === undefined || log.who[i] === who)) k++;
  }
  return to > from ? (k * 1000) / (to - from) : NaN;
}

/** First end time ≥ `from` of a 250 ms window in which the victim served at least `share` of the reads. */
export function backToShare(log: RunLog, from: number, share: number): number {
  const w = 250;
  for (let t = from; t + w <= log.tStop; t += 50) {
    let all = 0;
    let victim = 0;
    for (let i = 0; i < log.n; i++) {
      const e = log.tEnd[i]!;
      if (e < t || e >= t + w) continue;
      all++;
      if (log.who[i] === 1) victim++;
    }
    if (all > 0 && victim / all >= share) return t;
  }
  return Infinity;
}

/** Reads in the log satisfying `pred`. */
export function count(log: RunLog, pred: (i: number) => boolean): number {
  let k = 0;
  for (let i = 0; i < log.n; i++) if (pred(i)) k++;
  return k;
}

/** Latest end time of a read satisfying `pred`; -Infinity when none. */
export function lastTime(log: RunLog, pred: (i: number) => boolean): number {
  let last = -Infinity;
  for (let i = 0; i < log.n; i++)
    if (pred(i) && log.tEnd[i]! > last) last = log.tEnd[i]!;
  return last;
}

/** Earliest end time of a read satisfying `pred`; Infinity when none. */
export function firstTime(log: RunLog, pred: (i: number) => boolean): number {
  let first = Infinity;
  for (let i = 0; i < log.n; i++)
    if (pred(i) && log.tEnd[i]! < first) first = log.tEnd[i]!;
  return first;
}

/** Slowest read ending in [from, to), ms. */
export function maxLatency(log: RunLog, from: number, to: number): number {
  let m = 0;
  for (let i = 0; i < log.n; i++)
    if (log.tEnd[i]! >= from && log.tEnd[i]! < to && log.latMs[i]! > m)
      m = log.latMs[i]!;
  return m;
}

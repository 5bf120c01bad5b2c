import { Listeners } from "../support/listeners";
import { type Clock, systemClock } from "../support/clock";
import { InvalidArgumentError } from "../base/errors";

const LSN_PATTERN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;
const MAX_LSN = (1n << 64n) - 1n;

/** A string that is not a PostgreSQL LSN (`"16/B374D848"`). Code `invalid_argument`. */
export class InvalidLsnError extends InvalidArgumentError {
  constructor(readonly text: string) {
    // Cap the echo: the text may come from a request, and an LSN is at most 17 characters.
    const shown = JSON.stringify(
      text.length > 32 ? `${text.slice(0, 32)}...` : text,
    );
    super(
      "lsn",
      `${shown} is not a PostgreSQL LSN (expected two 1-8 digit hex numbers joined by "/", e.g. "16/B374D848")`,
    );
  }
}

/** Is `text` an LSN as PostgreSQL prints it (`"16/B374D848"`, either case)? */
export function isValidLsn(text: string): boolean {
  return LSN_PATTERN.test(text);
}

/**
 * Parses an LSN (`"16/B374D848"`) into its byte position in the WAL.
 * @throws InvalidLsnError on anything but `hex{1,8}/hex{1,8}`, with no surrounding space.
 */
export function parseLsn(text: string): bigint {
  if (!isValidLsn(text)) throw new InvalidLsnError(text);
  const slash = text.indexOf("/");
  // Each half is at most 8 hex digits: exact as a number, and a BigInt
  // from a number is far cheaper than one parsed from text.
  const high = BigInt(parseInt(text.slice(0, slash), 16));
  const low = BigInt(parseInt(text.slice(slash + 1), 16));
  return (high << 32n) | low;
}

/**
 * Formats a WAL byte position as PostgreSQL does (`"16/B374D848"`, upper-case hex).
 * @throws RangeError when `lsn` is outside 0..2^64-1.
 */
export function formatLsn(lsn: bigint): string {
  if (lsn < 0n || lsn > MAX_LSN)
    throw new RangeError(`lsn must be within 0..2^64-1, got ${lsn}`);
  const high = Number(lsn >> 32n)
    .toString(16)
    .toUpperCase();
  const low = Number(lsn & 0xffffffffn)
    .toString(16)
    .toUpperCase();
  return `${high}/${low}`;
}

/** One lag measurement of a replica against the primary. */
export interface LagSample {
  /** `pg_current_wal_lsn()` on the primary. */
  primaryLsn: bigint;
  /** `pg_last_wal_receive_lsn()` on the replica. */
  receiveLsn: bigint | null;
  /** `pg_last_wal_replay_lsn()` on the replica. */
  replayLsn: bigint | null;
  /** `pg_last_xact_replay_timestamp()` in ms since the epoch. */
  lastReplayAtMs: number | null;
  /** Clock time the sample was taken, ms since the epoch. */
  sampledAtMs: number;
}

/** `unknown` when there is no usable sample. */
export type LagStatus = "ok" | "warning" | "critical" | "unknown";

/** Status thresholds in seconds, inclusive (`REPLICA_LAG_WARNING_THRESHOLD` / `REPLICA_LAG_CRITICAL_THRESHOLD`). */
export interface LagThresholds {
  /** Default 5. */
  warningSeconds: number;
  /** Default 10. */
  criticalSeconds: number;
}

/** Default {@link LagThresholds}: warning at 5 s, critical at 10 s. */
export const DEFAULT_LAG_THRESHOLDS: Readonly<LagThresholds> = Object.freeze({
  warningSeconds: 5,
  criticalSeconds: 10,
});

/** A sample evaluated against thresholds. */
export interface LagReading {
  /** Bytes of WAL the replica has not replayed yet; null when unknown. */
  lagBytes: number | null;
  /** Seconds the replica is behind; null when unknown. */
  lagSeconds: number | null;
  status: LagStatus;
  /** The replica's replay LSN as text, e.g. `"16/B374D848"`. */
  replayLsn: string | null;
  /** When the sample was taken, ms since the epoch. */
  sampledAtMs: number | null;
}

const UNKNOWN_READING: LagReading = Object.freeze({
  lagBytes: null,
  lagSeconds: null,
  status: "unknown",
  replayLsn: null,
  sampledAtMs: null,
});

/**
 * Evaluates a sample. `lagBytes` = max(0, primary - replay). `lagSeconds` is 0
 * once the replica has replayed all the primary has written — so an idle
 * cluster, whose last replayed transaction may be hours old, never shows lag —
 * and otherwise the time since the last replayed transaction. Behind with no
 * replay timestamp, or no replay LSN at all, reads as `unknown`.
 */
export function evaluateLag(
  sample: LagSample | null,
  thresholds: LagThresholds,
): LagReading {
  if (sample === null) return UNKNOWN_READING;
  const { primaryLsn, replayLsn, lastReplayAtMs, sampledAtMs } = sample;
  if (replayLsn === null) return { ...UNKNOWN_READING, sampledAtMs };
  const behindBytes = primaryLsn - replayLsn;
  const lagBytes = behindBytes > 0n ? Number(behindBytes) : 0;
  let lagSeconds: number | null;
  if (behindBytes <= 0n) lagSeconds = 0;
  else if (lastReplayAtMs === null) lagSeconds = null;
  else lagSeconds = Math.max(0, (sampledAtMs - lastReplayAtMs) / 1000);
  return {
    lagBytes,
    lagSeconds,
    status: statusOf(lagSeconds, thresholds),
    replayLsn: formatLsn(replayLsn),
    sampledAtMs,
  };
}

function statusOf(lagSeconds: number | null, t: LagThresholds): LagStatus {
  if (lagSeconds === null) return "unknown";
  if (lagSeconds >= t.criticalSeconds) return "critical";
  if (lagSeconds >= t.warningSeconds) return "warning";
  return "ok";
}

/** A lag status change, emitted once per change. */
export interface LagStatusChange {
  node: string;
  from: LagStatus;
  to: LagStatus;
  /** Clock time, ms since the epoch. */
  atMs: number;
}

/** Bounds a read may tolerate; an omitted axis is unbounded. Both inclusive. */
export interface LagBound {
  maxLagSeconds?: number;
  maxLagBytes?: number;
}

/**
 * Lag of one replica: keeps the last sample and its reading. A failed
 * sample makes the reading `unknown` until the next good one.
 */
export class LagTracker {
  /** Replica name. */
  readonly node: string;
  /** Thresholds for {@link LagReading.status}. */
  readonly thresholds: Readonly<LagThresholds>;
  private readonly clock: Clock;
  private sample: LagSample | null = null;
  private current: LagReading = UNKNOWN_READING;
  private error: string | null = null;
  private readonly listeners: Listeners<LagStatusChange>;

  /** @throws RangeError when a threshold is negative or not finite, or critical < warning. */
  constructor(opts: {
    node: string;
    thresholds?: LagThresholds;
    clock?: Clock;
  }) {
    this.node = opts.node;
    this.listeners = new Listeners(`lag tracker ${opts.node}`);
    const t = opts.thresholds ?? DEFAULT_LAG_THRESHOLDS;
    for (const key of ["warningSeconds", "criticalSeconds"] as const) {
      if (!Number.isFinite(t[key]) || t[key] < 0) {
        throw new RangeError(
          `thresholds.${key} must be a non-negative number, got ${String(t[key])}`,
        );
      }
    }
    if (t.criticalSeconds < t.warningSeconds) {
      throw new RangeError(
        `thresholds.criticalSeconds (${t.criticalSeconds}) must not be below thresholds.warningSeconds (${t.warningSeconds})`,
      );
    }
    this.thresholds = Object.freeze({ ...t });
    this.clock = opts.clock ?? systemClock;
  }

  /** Stores a successful sample and re-evaluates; clears {@link lastError}. */
  recordSample(sample: LagSample): void {
    this.sample = sample;
    this.error = null;
    this.update(evaluateLag(sample, this.thresholds));
  }

  /** The sample query failed: the reading becomes unknown and the sample is dropped. */
  recordFailure(error: string): void {
    this.sample = null;
    this.error = error;
    this.update(UNKNOWN_READING);
  }

  /** The reading of the last sample; unknown before the first and after a failure. */
  get reading(): LagReading {
    return this.current;
  }

  /** The last successful sample; null before the first and after a failure. */
  get lastSample(): LagSample | null {
    return this.sample;
  }

  /** Why the last sample failed; null after a successful one. */
  get lastError(): string | null {
    return this.error;
  }

  /**
   * Is the replica within `bound` (inclusive)? With an unknown reading: false
   * when any bound is given (route conservatively), true when none is.
   */
  withinBound(bound: LagBound): boolean {
    const { maxLagSeconds, maxLagBytes } = bound;
    if (maxLagSeconds === undefined && maxLagBytes === undefined) return true;
    const { lagSeconds, lagBytes, status } = this.current;
    if (status === "unknown") return false;
    if (
      maxLagSeconds !== undefined &&
      (lagSeconds === null || lagSeconds > maxLagSeconds)
    )
      return false;
    if (
      maxLagBytes !== undefined &&
      (lagBytes === null || lagBytes > maxLagBytes)
    )
      return false;
    return true;
  }

  /**
   * Has the replica replayed `lsn`? Replay only moves forward, so an old sample
   * can only say "not yet" too often, never "yes" too early.
   */
  hasReplayed(lsn: bigint): boolean {
    const replayLsn = this.sample?.replayLsn;
    return replayLsn !== undefined && replayLsn !== null && replayLsn >= lsn;
  }

  /**
   * Subscribes to status changes. A listener that throws is ignored (the first
   * such error per tracker is reported with console.error).
   * @returns a function that unsubscribes.
   */
  onStatusChange(listener: (e: LagStatusChange) => void): () => void {
    return this.listeners.add(listener);
  }

  private update(reading: LagReading): void {
    const from = this.current.status;
    this.current = reading;
    if (from === reading.status) return;
    const event: LagStatusChange = {
      node: this.node,
      from,
      to: reading.status,
      atMs: this.clock.now(),
    };
    this.listeners.emit(event);
  }
}

/** Monotonic time and one-shot timers for hedging; tests pass manual ones. */
export interface HedgeTimers {
  /** Monotonic milliseconds, sub-millisecond resolution (`performance.now()`). */
  now(): number;
  /** Calls `fn` once after `ms`; must not keep the process alive. */
  set(fn: () => void, ms: number): unknown;
  /** Cancels what {@link HedgeTimers.set} returned. */
  clear(handle: unknown): void;
}

/** `performance.now()` and `unref()`'d `setTimeout`s. */
export const realHedgeTimers: HedgeTimers = {
  now: () => performance.now(),
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A read waiting for its hedge time; the links are the schedule's. */
export interface Hedgeable {
  /** {@link HedgeTimers.now} time at which it falls due. */
  readonly dueMs: number;
  /** @internal */
  prevDue: Hedgeable | null;
  /** @internal */
  nextDue: Hedgeable | null;
  /** @internal true while in a schedule. */
  scheduled: boolean;
  /** Called once when due (and still scheduled). */
  fallDue(): void;
}

/**
 * Reads waiting for their hedge time, earliest first, with at most one timer,
 * armed for the earliest. Adding and removing a read is a few pointer writes
 * (an intrusive list: no allocation, no hashing), and a read that answers
 * before its time leaves the timer alone: it fires for a read already gone,
 * finds the next one not due and re-arms for it. So the timer runs about
 * once per hedge delay while reads are outstanding (never every tick), and
 * not at all when none is waiting.
 *
 * Due times are a read's start plus the current delay, so nearly always in
 * arrival order: insertion walks back from the newest, usually no step.
 */
export class HedgeSchedule {
  private head: Hedgeable | null = null;
  private tail: Hedgeable | null = null;
  private timer: unknown = null;
  private armedForMs = Infinity;
  private readonly onTimer = (): void => this.launchDue();

  constructor(private readonly timers: HedgeTimers) {}

  /** Reads waiting now (for tests). */
  get size(): number {
    let n = 0;
    for (let r = this.head; r !== null; r = r.nextDue) n++;
    return n;
  }

  /** True while the timer is armed (for tests). */
  get armed(): boolean {
    return this.timer !== null;
  }

  /** Adds `read`, to fall due at `read.dueMs`. */
  add(read: Hedgeable): void {
    if (read.scheduled) return;
    let before = this.tail;
    while (before !== null && before.dueMs > read.dueMs)
      before = before.prevDue;
    read.prevDue = before;
    read.nextDue = before === null ? this.head : before.nextDue;
    if (read.nextDue !== null) read.nextDue.prevDue = read;
    else this.tail = read;
    if (before !== null) before.nextDue = read;
    else this.head = read;
    read.scheduled = true;
    if (read.dueMs < this.armedForMs) this.arm(read.dueMs);
  }

  /** Takes `read` out (it answered or failed first). Idempotent. */
  remove(read: Hedgeable): void {
    if (!read.scheduled) return;
    read.scheduled = false;
    if (read.prevDue !== null) read.prevDue.nextDue = read.nextDue;
    else this.head = read.nextDue;
    if (read.nextDue !== null) read.nextDue.prevDue = read.prevDue;
    else this.tail = read.prevDue;
    read.prevDue = read.nextDue = null;
  }

  /** Stops the timer; waiting reads are forgotten (they run on unhedged). */
  clear(): void {
    while (this.head !== null) this.remove(this.head);
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.armedForMs = Infinity;
  }

  /** Calls {@link Hedgeable.fallDue} on every read due by now; re-arms for the next. */
  launchDue(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.armedForMs = Infinity;
    const now = this.timers.now();
    let read: Hedgeable | null;
    try {
      while ((read = this.head) !== null && read.dueMs <= now) {
        this.remove(read);
        try {
          read.fallDue();
        } catch {
          // A hedge that cannot be sent leaves its read unhedged. Nothing
          // may escape: this runs in a timer, where it would end the process.
        }
      }
    } finally {
      if (this.head !== null) this.arm(this.head.dueMs);
    }
  }

  private arm(dueMs: number): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    this.armedForMs = dueMs;
    // Whole milliseconds, rounded up: a timer that fires early finds nothing due.
    const ms = Math.max(1, Math.ceil(dueMs - this.timers.now()));
    this.timer = this.timers.set(this.onTimer, ms);
  }
}

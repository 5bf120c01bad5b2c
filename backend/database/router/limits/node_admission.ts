import { OverloadedError } from "../base/errors";

/** Limits of {@link NodeAdmission} (DB_MAX_CONNECTIONS, DB_POOL_QUEUE_MAX, DB_POOL_QUEUE_TIMEOUT). */
export interface AdmissionLimits {
  /** Statements that may hold a connection at once (the pool size). */
  readonly slots: number;
  /** Statements that may wait for one; past that, refused at once. */
  readonly queueMax: number;
  /** Longest wait for a slot (ms); past that, refused. */
  readonly queueTimeoutMs: number;
}

/** Who waits for a slot (see {@link NodeAdmission.enter}); hears exactly one of the two. */
export interface AdmissionWaiter {
  /** A slot is now held for it. */
  admitted(): void;
  /** No slot came within the queue timeout. */
  refused(error: OverloadedError): void;
}

/**
 * Admission control of one node's request-path statements: at most `slots`
 * run (so pg-pool's own queue never grows with user traffic), at most
 * `queueMax` wait, each at most `queueTimeoutMs`; the rest fail fast with
 * {@link OverloadedError} (503 + Retry-After). A saturated service then
 * answers "too busy" in bounded time and bounded memory instead of queueing
 * for seconds, and health checks and probes (which bypass this gate) still
 * find the pool. The free path is a counter increment; a wait is an entry
 * in a FIFO whose deadlines share one timer, armed for the oldest (every
 * wait has the same timeout, so the oldest is always due first).
 */
export class NodeAdmission {
  private running = 0;
  private readonly waiters: AdmissionWaiter[] = [];
  /** Date.now() deadline of each waiter, in queue order (nondecreasing). */
  private readonly deadlines: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly onTimer = (): void => this.expire();
  /** Releases not yet handed on (see {@link release}). */
  private toRelease = 0;
  private releasing = false;
  /** Statements refused because the queue was full, since start. */
  refusedQueueFull = 0;
  /** Statements refused after waiting the whole queue timeout, since start. */
  refusedTimeout = 0;

  constructor(
    private readonly node: string,
    private readonly limits: AdmissionLimits,
  ) {}

  /** Statements holding a slot now. */
  get active(): number {
    return this.running;
  }

  /** Statements waiting for a slot now. */
  get queued(): number {
    return this.waiters.length;
  }

  /** True when a statement would start at once (hedges only go where this holds). */
  get hasFreeSlot(): boolean {
    return this.running < this.limits.slots;
  }

  /**
   * Takes a slot, waiting if needed. Returns undefined (synchronously
   * usable) when one was free, else a promise.
   * @throws {OverloadedError} when the queue is full or the wait times out.
   */
  acquire(): Promise<void> | undefined {
    if (this.running < this.limits.slots) {
      this.running++;
      return undefined;
    }
    this.checkRoom();
    return new Promise<void>((resolve, reject) =>
      this.enqueue({ admitted: resolve, refused: reject }),
    );
  }

  /**
   * {@link acquire} without a Promise: true when a slot was free (taken
   * now); else `waiter` is queued and hears `admitted` or `refused` later.
   * @throws {OverloadedError} when the queue is full.
   */
  enter(waiter: AdmissionWaiter): boolean {
    if (this.running < this.limits.slots) {
      this.running++;
      return true;
    }
    this.checkRoom();
    this.enqueue(waiter);
    return false;
  }

  /**
   * Gives a slot back; the oldest waiter gets it. A waiter that hears
   * `admitted` here may give its slot straight back (its node stopped
   * serving): that release is taken by this loop, not by recursion, so a
   * long queue drains without a deep stack.
   */
  release(): void {
    this.toRelease++;
    if (this.releasing) return;
    this.releasing = true;
    try {
      while (this.toRelease > 0) {
        this.toRelease--;
        const next = this.waiters.shift();
        if (next === undefined) {
          if (this.running > 0) this.running--;
          continue;
        }
        this.deadlines.shift();
        if (this.waiters.length === 0 && this.timer !== null) {
          clearTimeout(this.timer);
          this.timer = null;
        }
        next.admitted();
      }
    } finally {
      this.releasing = false;
    }
  }

  private checkRoom(): void {
    if (this.waiters.length >= this.limits.queueMax) {
      this.refusedQueueFull++;
      throw new OverloadedError(this.node, "queue_full");
    }
  }

  private enqueue(waiter: AdmissionWaiter): void {
    const deadline = Date.now() + this.limits.queueTimeoutMs;
    this.waiters.push(waiter);
    this.deadlines.push(deadline);
    // Armed while anyone waits, for a deadline no later than the oldest's.
    if (this.timer === null) this.arm(deadline);
  }

  private arm(deadline: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, deadline - Date.now()));
  }

  /** Refuses every waiter whose deadline passed; re-arms for the next. */
  private expire(): void {
    this.timer = null;
    const now = Date.now();
    while (this.waiters.length > 0 && this.deadlines[0]! <= now) {
      const waiter = this.waiters.shift()!;
      this.deadlines.shift();
      this.refusedTimeout++;
      waiter.refused(new OverloadedError(this.node, "queue_timeout"));
    }
    // A refused waiter may have queued again (and armed the timer).
    if (this.waiters.length > 0 && this.timer === null)
      this.arm(this.deadlines[0]!);
  }
}

import { OverloadedError } from "../errors";

/** Limits of {@link NodeAdmission} (DB_MAX_CONNECTIONS, DB_POOL_QUEUE_MAX, DB_POOL_QUEUE_TIMEOUT). */
export interface AdmissionLimits {
  /** Statements that may hold a connection at once (the pool size). */
  readonly slots: number;
  /** Statements that may wait for one; past that, refused at once. */
  readonly queueMax: number;
  /** Longest wait for a slot (ms); past that, refused. */
  readonly queueTimeoutMs: number;
}

interface Waiter {
  grant(): void;
  timer: NodeJS.Timeout;
}

/**
 * Admission control of one node's request-path statements: at most `slots`
 * run (so pg-pool's own queue never grows with user traffic), at most
 * `queueMax` wait, each at most `queueTimeoutMs`; the rest fail fast with
 * {@link OverloadedError} (503 + Retry-After). A saturated service then
 * answers "too busy" in bounded time and bounded memory instead of queueing
 * for seconds, and health checks and probes (which bypass this gate) still
 * find the pool. The free path is a counter increment.
 */
export class NodeAdmission {
  private running = 0;
  private readonly queue: Waiter[] = [];
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
    return this.queue.length;
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
    if (this.queue.length >= this.limits.queueMax) {
      this.refusedQueueFull++;
      throw new OverloadedError(this.node, "queue_full");
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          this.refusedTimeout++;
          reject(new OverloadedError(this.node, "queue_timeout"));
        }, this.limits.queueTimeoutMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Gives a slot back; the oldest waiter gets it. */
  release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next.grant();
    else if (this.running > 0) this.running--;
  }
}

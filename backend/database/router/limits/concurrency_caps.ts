import { ConnectionCapExceededError } from "../base/errors";

interface Slot {
  active: number;
  waiters: Array<() => void>;
}

/**
 * Counting semaphores keyed by caller, so one user or org cannot hold every
 * pool connection: past its cap a caller waits (FIFO) up to `waitMs`, then
 * gets {@link ConnectionCapExceededError} (429 `resource_exhausted`).
 */
class KeyedLimiter {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {}

  async acquire(key: string, waitMs: number): Promise<void> {
    let slot = this.slots.get(key);
    if (slot === undefined)
      this.slots.set(key, (slot = { active: 0, waiters: [] }));
    if (slot.active < this.limit) {
      slot.active++;
      return;
    }
    const s = slot;
    await new Promise<void>((resolve, reject) => {
      const grant = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const i = s.waiters.indexOf(grant);
        if (i >= 0) s.waiters.splice(i, 1);
        reject(
          new ConnectionCapExceededError(
            `${this.what} ${key} has ${this.limit} queries running; none finished within ${waitMs} ms`,
          ),
        );
      }, waitMs);
      s.waiters.push(grant);
    });
  }

  release(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    const next = slot.waiters.shift();
    // Hand the slot straight to the next waiter; active stays the same.
    if (next !== undefined) next();
    else if (--slot.active === 0) this.slots.delete(key);
  }
}

/** Per-user and per-org caps on concurrent queries (MAX_CONCURRENT_QUERIES_PER_USER / _ORG). */
export class ConcurrencyCaps {
  private readonly perUser: KeyedLimiter | null;
  private readonly perOrg: KeyedLimiter | null;
  private readonly waitMs: number;

  constructor(options: {
    perUser: number | null;
    perOrg: number | null;
    waitMs: number;
  }) {
    this.perUser =
      options.perUser === null
        ? null
        : new KeyedLimiter(options.perUser, "user");
    this.perOrg =
      options.perOrg === null ? null : new KeyedLimiter(options.perOrg, "org");
    this.waitMs = options.waitMs;
  }

  /** False when no cap is configured: callers skip the whole mechanism. */
  get enabled(): boolean {
    return this.perUser !== null || this.perOrg !== null;
  }

  /**
   * Takes a slot for `userId` and `orgId` (either may be absent), waiting up
   * to the configured bound.
   *
   * @returns the release function; call it exactly once.
   * @throws {ConnectionCapExceededError} when a slot did not free up in time.
   */
  async acquire(
    userId: string | undefined,
    orgId: number | undefined,
  ): Promise<() => void> {
    const user = this.perUser !== null && userId !== undefined ? userId : null;
    const org =
      this.perOrg !== null && orgId !== undefined ? String(orgId) : null;
    if (user !== null) await this.perUser!.acquire(user, this.waitMs);
    if (org !== null) {
      try {
        await this.perOrg!.acquire(org, this.waitMs);
      } catch (err) {
        if (user !== null) this.perUser!.release(user);
        throw err;
      }
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (org !== null) this.perOrg!.release(org);
      if (user !== null) this.perUser!.release(user);
    };
  }
}

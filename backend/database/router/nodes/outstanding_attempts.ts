import type { ReadAttempt } from "../reads/read_attempt";

/**
 * A node's replica reads outstanding now (see {@link ReadAttempt}), oldest
 * first: an intrusive list (no allocation or hashing per read; the oldest
 * is the head, since attempts join in start order).
 */
export class OutstandingAttempts {
  private oldest: ReadAttempt | null = null;
  private newest: ReadAttempt | null = null;
  private outstanding = 0;

  /** How many there are. */
  get count(): number {
    return this.outstanding;
  }

  /** Adds `a` at the end; false when it was listed already. */
  add(a: ReadAttempt): boolean {
    if (a.listed) return false;
    a.listed = true;
    a.prevOnNode = this.newest;
    a.nextOnNode = null;
    if (this.newest !== null) this.newest.nextOnNode = a;
    else this.oldest = a;
    this.newest = a;
    this.outstanding++;
    return true;
  }

  /** Removes `a`; false when it was not listed. */
  remove(a: ReadAttempt): boolean {
    if (!a.listed) return false;
    a.listed = false;
    if (a.prevOnNode !== null) a.prevOnNode.nextOnNode = a.nextOnNode;
    else this.oldest = a.nextOnNode;
    if (a.nextOnNode !== null) a.nextOnNode.prevOnNode = a.prevOnNode;
    else this.newest = a.prevOnNode;
    a.prevOnNode = a.nextOnNode = null;
    this.outstanding--;
    return true;
  }

  /** Every one, oldest first (a copy). */
  list(): ReadAttempt[] {
    const out: ReadAttempt[] = [];
    for (let a = this.oldest; a !== null; a = a.nextOnNode) out.push(a);
    return out;
  }

  /** Start time of the oldest that started after `ms`, undefined when none. */
  oldestStartedAfter(ms: number): number | undefined {
    for (let a = this.oldest; a !== null; a = a.nextOnNode)
      if (a.startedAtMs > ms) return a.startedAtMs;
    return undefined;
  }

  /** Start time of the oldest, undefined when none. */
  oldestStartMs(): number | undefined {
    return this.oldest?.startedAtMs;
  }
}

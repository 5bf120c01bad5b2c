/** A stall-watch verdict on a silent replica (see health/stall_watch.ts). */
export type StallVerdict = "suspected" | "confirmed" | "withheld";

/**
 * A node's counters since start: plain numbers read at scrape time, so the
 * query path pays no metrics cost. Only the node's own collaborators count,
 * through these methods; everyone else reads.
 */
export class NodeCounters {
  private readCount = 0;
  private failureCount = 0;
  private suspectedCount = 0;
  private confirmedCount = 0;
  private withheldCount = 0;

  /** Reads routed here since start. */
  get reads(): number {
    return this.readCount;
  }

  /** Statements on this node that failed for the node's fault. */
  get failures(): number {
    return this.failureCount;
  }

  /** Times this node was suspected stalled. */
  get stallsSuspected(): number {
    return this.suspectedCount;
  }

  /** Times a stall was confirmed by a failed probe. */
  get stallsConfirmed(): number {
    return this.confirmedCount;
  }

  /**
   * Times the node went silent past its deadline but was not suspected:
   * its peers were as slow (load, not a stall), or the most replicas that
   * may be out for silence at once were out already.
   */
  get stallsWithheld(): number {
    return this.withheldCount;
  }

  /** A read was routed here. */
  countRead(): void {
    this.readCount++;
  }

  /** A statement here failed for the node's fault. */
  countFailure(): void {
    this.failureCount++;
  }

  /** The stall watch's verdict on this node. */
  countStall(verdict: StallVerdict): void {
    if (verdict === "suspected") this.suspectedCount++;
    else if (verdict === "confirmed") this.confirmedCount++;
    else this.withheldCount++;
  }
}

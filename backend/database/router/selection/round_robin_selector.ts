import type { ReplicaSelector, SelectableNode } from "./replica_selector";

/** Each read goes to the next candidate in turn. The default strategy. */
export class RoundRobinSelector implements ReplicaSelector {
  private next = 0;

  pick<N extends SelectableNode>(candidates: readonly N[]): N | undefined {
    if (candidates.length === 0) return undefined;
    // Wraps well before 2^53; the modulo keeps the order stable as candidates change.
    this.next = (this.next + 1) % 1_000_000_007;
    return candidates[this.next % candidates.length];
  }
}

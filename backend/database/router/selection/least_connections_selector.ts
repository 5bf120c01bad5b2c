import type { ReplicaSelector, SelectableNode } from "./replica_selector";

/** The candidate with the fewest statements in flight; ties go round-robin. */
export class LeastConnectionsSelector implements ReplicaSelector {
  private turn = 0;

  pick<N extends SelectableNode>(candidates: readonly N[]): N | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    this.turn = (this.turn + 1) % n;
    let best: N | undefined;
    for (let i = 0; i < n; i++) {
      const node = candidates[(this.turn + i) % n]!;
      if (best === undefined || node.inFlight < best.inFlight) best = node;
    }
    return best;
  }
}

import type { ReplicaSelector, SelectableNode } from "./replica_selector";

/**
 * The candidate with the smallest measured replay lag in bytes; replicas with
 * unknown lag rank last, ties go round-robin so equal replicas share load.
 */
export class LowestLagSelector implements ReplicaSelector {
  private turn = 0;

  pick<N extends SelectableNode>(candidates: readonly N[]): N | undefined {
    const n = candidates.length;
    if (n <= 1) return candidates[0];
    this.turn = (this.turn + 1) % n;
    let best: N | undefined;
    let bestLag = Infinity;
    for (let i = 0; i < n; i++) {
      const node = candidates[(this.turn + i) % n]!;
      const lag = node.lagBytes ?? Number.MAX_VALUE;
      if (best === undefined || lag < bestLag) {
        best = node;
        bestLag = lag;
      }
    }
    return best;
  }
}

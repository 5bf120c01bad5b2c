import type { ReplicaSelector, SelectableNode } from "./replica_selector";

/**
 * Smooth weighted round-robin (as in nginx): with weights 3:1 the order is
 * a, a, b, a, ... so every window of 4 reads holds exactly 3 and 1, with no bursts.
 */
export class WeightedSelector implements ReplicaSelector {
  private readonly current = new Map<string, number>();

  pick<N extends SelectableNode>(candidates: readonly N[]): N | undefined {
    if (candidates.length <= 1) return candidates[0];
    let total = 0;
    let best: N | undefined;
    let bestWeight = -Infinity;
    for (const node of candidates) {
      const w = (this.current.get(node.name) ?? 0) + node.weight;
      this.current.set(node.name, w);
      total += node.weight;
      if (w > bestWeight) {
        bestWeight = w;
        best = node;
      }
    }
    this.current.set(best!.name, bestWeight - total);
    return best;
  }
}

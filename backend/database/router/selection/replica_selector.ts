/** What a selector may look at on a candidate replica. */
export interface SelectableNode {
  readonly name: string;
  /** Share of reads under `weighted` (≥ 1). */
  readonly weight: number;
  /** Statements running on the node right now. */
  readonly inFlight: number;
  /** Last measured replay lag in bytes, or null when unknown. */
  readonly lagBytes: number | null;
}

/**
 * Picks one replica among those allowed to serve a read. Candidates arrive
 * already filtered by health, circuit and lag; a selector only balances.
 */
export interface ReplicaSelector {
  /** Returns one of `candidates`, or undefined when it is empty. */
  pick<N extends SelectableNode>(candidates: readonly N[]): N | undefined;
}

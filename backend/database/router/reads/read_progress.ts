import type { Consistency } from "../consistency/consistency";
import type { OverloadedError } from "../base/errors";
import type { DbNode } from "../nodes/db_node";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ReadRequest, ReadResult } from "../routed_connections";
import type {
  HedgedContinuation,
  HedgedResult,
  ReadSpec,
} from "./pending_read";

/** What becomes of a replica attempt once it settled (the read executor). */
export interface ReplicaOutcome {
  replicaSettled(
    read: ReadProgress,
    result: HedgedResult,
  ): ReadResult | Promise<ReadResult>;
}

/**
 * One read through its attempts: the request, where it is (attempt number,
 * nodes tried, whether a replica was too busy), and for the current replica
 * attempt what a cache fill's data will include. It is also that attempt's
 * {@link ReadSpec} and the continuation of its hedged read, so a read costs
 * one object of bookkeeping, not one per role.
 */
export class ReadProgress implements ReadSpec, HedgedContinuation<ReadResult> {
  /** 1-based; the last goes to the primary. */
  attempt = 1;
  /** Nodes this read failed on (not planned again). */
  tried: DbNode[] | undefined = undefined;
  /** Set once a replica's queue was full: the primary answers 503 instead of taking the read. */
  overloaded: OverloadedError | undefined = undefined;
  /** The replica of the current attempt. */
  node: DbNode | null = null;
  /** Replay position a cache fill's data will include at least (0 when not a fill). */
  floor = 0n;
  /** Time a cache fill's data is at least as fresh as (0 when unknown or not a fill). */
  asOfMs = 0;
  /** The token position the current attempt's node must show it replayed (0n: none). */
  guard = 0n;
  /** Set once an attempt carried a replay check: a read sends at most one. */
  checked = false;
  readonly cluster: NodeCluster;
  readonly consistency: Consistency;
  readonly endpoint: string;

  constructor(
    readonly req: ReadRequest,
    readonly sql: string,
    readonly params: unknown[],
    private readonly outcome: ReplicaOutcome,
  ) {
    this.cluster = req.cluster;
    this.consistency = req.consistency;
    this.endpoint = req.endpoint;
  }

  /** @inheritdoc */
  hedgedSettled(result: HedgedResult): ReadResult | Promise<ReadResult> {
    return this.outcome.replicaSettled(this, result);
  }
}

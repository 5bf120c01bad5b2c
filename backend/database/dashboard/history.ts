import type { RouterStatusView } from "../router/index";
import { nodeStatus } from "../status/router_status";

/** One node in one sample. */
export interface NodeSample {
  lagSeconds: number | null;
  lagBytes: number | null;
  /** Reads sent to the node during the interval that ends at the sample. */
  reads: number;
  state: string;
}

/** Body of GET /v1/system/database/replicas/history. */
export interface HistoryResponse {
  intervalMs: number;
  windowMs: number;
  /** Oldest first. */
  samples: { at: string; nodes: Record<string, NodeSample> }[];
  /** Each node's share (0..1) of the reads of the last minute; empty before any read. */
  readShareLastMinute: Record<string, number>;
}

/** What a sample is taken from: each node's name, cumulative reads, lag and state. */
export interface NodeReading {
  name: string;
  reads: number;
  lagSeconds: number | null;
  lagBytes: number | null;
  state: string;
}

/**
 * The last `windowMs` of per-node lag, state and reads, one sample every
 * `intervalMs`, in a ring of fixed size: memory stays bounded however long
 * the process runs (capacity samples × nodes).
 */
export class History {
  readonly capacity: number;
  private readonly ring: (
    { atMs: number; nodes: Record<string, NodeSample> } | undefined
  )[];
  private next = 0;
  private size = 0;
  /** Cumulative reads per node at the previous sample. */
  private lastReads = new Map<string, number>();

  constructor(
    readonly intervalMs = 5_000,
    readonly windowMs = 15 * 60_000,
  ) {
    this.capacity = Math.max(1, Math.ceil(windowMs / intervalMs));
    this.ring = new Array(this.capacity);
  }

  /** Records a sample at `atMs` from each node's cumulative read count, lag and state. */
  record(atMs: number, readings: readonly NodeReading[]): void {
    const nodes: Record<string, NodeSample> = {};
    const reads = new Map<string, number>();
    for (const r of readings) {
      const before = this.lastReads.get(r.name);
      // A node new since the last sample (or re-added, its counter reset) starts at 0.
      const delta =
        before === undefined || r.reads < before ? 0 : r.reads - before;
      nodes[r.name] = {
        lagSeconds: r.lagSeconds,
        lagBytes: r.lagBytes,
        reads: delta,
        state: r.state,
      };
      reads.set(r.name, r.reads);
    }
    this.lastReads = reads;
    this.ring[this.next] = { atMs, nodes };
    this.next = (this.next + 1) % this.capacity;
    this.size = Math.min(this.size + 1, this.capacity);
  }

  /** The samples, oldest first, and each node's share of the last minute's reads. */
  snapshot(): HistoryResponse {
    const samples: HistoryResponse["samples"] = [];
    for (let i = 0; i < this.size; i++) {
      const s =
        this.ring[(this.next - this.size + i + this.capacity) % this.capacity]!;
      samples.push({ at: new Date(s.atMs).toISOString(), nodes: s.nodes });
    }
    return {
      intervalMs: this.intervalMs,
      windowMs: this.windowMs,
      samples,
      readShareLastMinute: this.shareSince(60_000),
    };
  }

  /** Samples held (at most {@link capacity}). */
  get length(): number {
    return this.size;
  }

  private shareSince(ms: number): Record<string, number> {
    const totals = new Map<string, number>();
    let all = 0;
    const newest = this.ring[(this.next - 1 + this.capacity) % this.capacity];
    if (newest === undefined) return {};
    for (let i = 0; i < this.size; i++) {
      const s = this.ring[(this.next - 1 - i + this.capacity) % this.capacity]!;
      if (newest.atMs - s.atMs >= ms) break;
      for (const [name, n] of Object.entries(s.nodes)) {
        totals.set(name, (totals.get(name) ?? 0) + n.reads);
        all += n.reads;
      }
    }
    const share: Record<string, number> = {};
    if (all === 0) return share;
    for (const [name, n] of totals) share[name] = n / all;
    return share;
  }
}

/** Each node of `router` as a reading for {@link History.record}. */
export function readingsOf(router: RouterStatusView): NodeReading[] {
  return router.clusters.flatMap((c) =>
    c.nodes.map((n) => {
      const s = nodeStatus(router, n);
      return {
        name: s.name,
        reads: s.reads,
        lagSeconds: s.lagSeconds,
        lagBytes: s.lagBytes,
        state: s.state,
      };
    }),
  );
}

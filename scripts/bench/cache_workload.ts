/**
 * The load side of the cache scenario: the tallies a router's observers
 * fill while it runs, and a bounded driver that replays a request
 * sequence (cache_sequence.ts) at fixed concurrency.
 */
import { performance } from "node:perf_hooks";
import type {
  CacheObserver,
  CacheOutcome,
} from "../../backend/database/router/cache/cache_types";
import type { RouterObserver } from "../../backend/database/router/observer";
import {
  silentLogger,
  type Logger,
} from "../../backend/database/router/support/logger";
import { runWithRequestContext } from "../../backend/database/router/base/request_context";
import type { FinanceRepository } from "../../backend/finance/finance_repository";
import {
  KINDS,
  READ_KINDS,
  TOTALS_BLOCK,
  type Sequence,
} from "./cache_sequence";

/** Counts of one read kind in one segment. */
export interface KindTally {
  requests: number;
  hitsMemory: number;
  hitsShared: number;
  misses: number;
  /** Cache off (or a strong read): straight to the database. */
  bypassed: number;
  /** The shared tier did not answer in time or its breaker was open: straight to the database. */
  unavailable: number;
  /** Statements sent to a replica (planned reads and hedges). */
  onReplica: number;
  /** Reads routed to the primary (no eligible replica, retries). */
  onPrimary: number;
}

/** Everything measured in one segment of one mode. */
export interface Tally {
  readonly kinds: Record<(typeof READ_KINDS)[number], KindTally>;
  writes: number;
  errors: number;
  /** Requests of the sequence started (its prefix this segment replayed). */
  issued: number;
  elapsedMs: number;
  /** Latency of every successful read, ms, sorted once the segment ends. */
  readLatenciesMs: Float64Array;
  /** Fills not stored, by reason (`behind_fence`, `unknown_position`, ...). */
  readonly skips: Map<string, number>;
  /** Invalidations (one per write that bumped generations). */
  invalidations: number;
  /** Times the shared tier's breaker opened. */
  breakerOpens: number;
}

/** An empty tally with room for `maxReads` latencies. */
/** A tally of one read kind with every count at zero. */
export function emptyKindTally(): KindTally {
  return {
    requests: 0,
    hitsMemory: 0,
    hitsShared: 0,
    misses: 0,
    bypassed: 0,
    unavailable: 0,
    onReplica: 0,
    onPrimary: 0,
  };
}

export function newTally(maxReads: number): Tally {
  const kind = emptyKindTally;
  return {
    kinds: { sum: kind(), list: kind(), totals: kind() },
    writes: 0,
    errors: 0,
    issued: 0,
    elapsedMs: 0,
    readLatenciesMs: new Float64Array(maxReads),
    skips: new Map(),
    invalidations: 0,
    breakerOpens: 0,
  };
}

const ENDPOINT_PREFIX = "bench.cache.";

/** The read kind an endpoint name stands for, or undefined (writes, unknown). */
function readKind(endpoint: string): (typeof READ_KINDS)[number] | undefined {
  const k = endpoint.slice(ENDPOINT_PREFIX.length);
  return (READ_KINDS as readonly string[]).includes(k)
    ? (k as (typeof READ_KINDS)[number])
    : undefined;
}

/**
 * Router and cache observers that count into whatever tally `current()`
 * returns (null while warming up): cache outcomes per read kind, every
 * read statement by the role of the node it was routed to, and (through
 * the router's otherwise silent logger) the shared tier's breaker opening.
 */
export function observers(current: () => Tally | null): {
  observer: RouterObserver;
  cacheObserver: CacheObserver;
  logger: Logger;
} {
  const outcome: Record<CacheOutcome, keyof KindTally> = {
    hit_memory: "hitsMemory",
    hit_shared: "hitsShared",
    miss: "misses",
    bypass_off: "bypassed",
    bypass_strong: "bypassed",
    bypass_unavailable: "unavailable",
  };
  return {
    logger: {
      ...silentLogger,
      warn(message) {
        const t = current();
        // GuardedStore's message when its breaker opens.
        if (t !== null && message === "query cache shared tier unavailable")
          t.breakerOpens++;
      },
    },
    observer: {
      onRoute(node, endpoint) {
        const t = current();
        const k = readKind(endpoint);
        if (t === null || k === undefined) return;
        if (node.role === "replica") t.kinds[k].onReplica++;
        else t.kinds[k].onPrimary++;
      },
    },
    cacheObserver: {
      onRead(endpoint, o) {
        const t = current();
        const k = readKind(endpoint);
        if (t !== null && k !== undefined) t.kinds[k][outcome[o]]++;
      },
      onSkip(reason) {
        const t = current();
        if (t !== null) t.skips.set(reason, (t.skips.get(reason) ?? 0) + 1);
      },
      onInvalidate() {
        const t = current();
        if (t !== null) t.invalidations++;
      },
    },
  };
}

const DAY_MS = 86_400_000;

/** Runs request `i` of `seq` through `repo`, in a request context naming its kind (as the HTTP layer would). */
function request(
  repo: FinanceRepository,
  seq: Sequence,
  i: number,
): Promise<unknown> {
  const kind = KINDS[seq.kind[i]!]!;
  const key = seq.key[i]!;
  const ctx = { endpoint: ENDPOINT_PREFIX + kind, servedBy: [] };
  return runWithRequestContext(ctx, () => {
    switch (kind) {
      case "create":
        return repo.create("revenues", key, {
          amountCents: 1 + ((i * 7919) % 100_000),
          currency: "USD",
          status: "pending",
          description: "cache bench",
          occurredAt: new Date(Date.UTC(2025, 0, 1) + (i % 365) * DAY_MS),
        });
      case "sum":
        return repo.sum("revenues", key);
      case "list":
        return repo.list("revenues", key, { limit: 50 });
      case "totals":
        return repo.totalsByOrg(
          "revenues",
          Array.from(
            { length: TOTALS_BLOCK },
            (_, j) => (key - 1) * TOTALS_BLOCK + j + 1,
          ),
        );
    }
  });
}

/**
 * Replays `seq` from its start with `concurrency` workers until
 * `durationMs` has passed or the sequence is used up, counting into
 * `tally` when given (the observers count into it too).
 */
export async function drive(opts: {
  repo: FinanceRepository;
  seq: Sequence;
  concurrency: number;
  durationMs: number;
  tally: Tally | null;
}): Promise<void> {
  const { repo, seq, tally } = opts;
  let next = 0;
  let reads = 0;
  const start = performance.now();
  const deadline = start + opts.durationMs;
  const worker = async (): Promise<void> => {
    while (next < seq.kind.length && performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      try {
        await request(repo, seq, i);
        if (tally === null) continue;
        const kind = KINDS[seq.kind[i]!]!;
        if (kind === "create") tally.writes++;
        else {
          tally.kinds[kind].requests++;
          tally.readLatenciesMs[reads++] = performance.now() - t0;
        }
      } catch {
        if (tally !== null) tally.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (tally !== null) {
    tally.issued = next;
    tally.elapsedMs = performance.now() - start;
    tally.readLatenciesMs = tally.readLatenciesMs.subarray(0, reads).sort();
  }
}

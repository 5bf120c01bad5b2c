import { AsyncLocalStorage } from "node:async_hooks";
import type { Consistency } from "../consistency/consistency";

/**
 * What one API request tells the router, and what the router tells it back.
 * The HTTP layer (standalone or Encore) opens a scope per request; repositories
 * need not pass anything through, and explicit options still win.
 */
export interface RequestContext {
  /** Endpoint name such as `finance.listRevenues`, for per-endpoint switches and metrics. */
  endpoint?: string;
  /** Consistency the caller asked for (`X-Consistency` / `X-Consistency-Token`). */
  consistency?: Consistency;
  /** Caller identity for concurrency caps. */
  userId?: string;
  /** Names of the nodes that served this request's statements, in order, without repeats. */
  servedBy: string[];
  /** Cluster whose primary this request wrote to; the HTTP layer then asks for a token. */
  wroteCluster?: string;
  /**
   * Set where the request is opened when a write will be answered with a
   * consistency token (both HTTP layers set it): each write then reads the
   * primary's WAL position in its own round trip, after its commit, and the
   * token needs no statement of its own. Unset, a write sends only itself.
   */
  wantsToken?: boolean;
  /**
   * Set by the router for a request that wants a token: per cluster
   * written, a WAL position at or past the commit of every write of this
   * request that completed there, or null once a write's position is
   * unknown (the token is then read from the primary).
   */
  writePositions?: Map<string, bigint | null>;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `ctx` as the current request context. */
export function runWithRequestContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

/** The current request context, if any. */
export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/**
 * Records a write of this request to `cluster` that completed: `lsn` is
 * the primary's position read after its commit, null when unknown. Keeps
 * the highest known position; an unknown one makes the cluster's unknown.
 */
export function noteWritePosition(
  ctx: RequestContext,
  cluster: string,
  lsn: bigint | null,
): void {
  const positions = (ctx.writePositions ??= new Map());
  const had = positions.get(cluster);
  if (lsn === null || had === null) positions.set(cluster, null);
  else if (had === undefined || lsn > had) positions.set(cluster, lsn);
}

/**
 * A position at or past every completed write of this request to
 * `cluster`, when each was read with its write; undefined otherwise.
 */
export function knownWritePosition(
  ctx: RequestContext | undefined,
  cluster: string,
): bigint | undefined {
  return ctx?.writePositions?.get(cluster) ?? undefined;
}

/** Records that `node` served a statement of the current request. */
export function noteServedBy(
  ctx: RequestContext | undefined,
  node: string,
): void {
  if (ctx !== undefined && !ctx.servedBy.includes(node))
    ctx.servedBy.push(node);
}

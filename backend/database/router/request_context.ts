import { AsyncLocalStorage } from "node:async_hooks";
import type { Consistency } from "./consistency/consistency";

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

/** Records that `node` served a statement of the current request. */
export function noteServedBy(
  ctx: RequestContext | undefined,
  node: string,
): void {
  if (ctx !== undefined && !ctx.servedBy.includes(node))
    ctx.servedBy.push(node);
}

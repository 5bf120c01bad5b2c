/**
 * The few router calls the hot-path benchmark makes, in one place, so the
 * same hot_path*.ts files run at this commit and at older ones
 * (hot_path_before.sh runs them at a93e2cd, before issue 21):
 * - routers are built as `npm start` builds them (loadConfig from the
 *   environment, the Prometheus RouterMetrics observer attached);
 * - a write in a request that wants a token marks its context
 *   `wantsToken` and asks `tokenAfterWrite(cluster, ctx)`; older routers
 *   ignore both extras and read the primary's position in a round trip of
 *   its own after the write, which is exactly what they did for a token;
 * - hedges are counted from RouterMetrics' routes with reason "hedge"
 *   (older HedgedReaders have no counter of their own);
 * - `guardMisses` (read-your-writes checks that found a replica behind)
 *   is null where DbNode has no such counter.
 */
import { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  runWithRequestContext,
  type RequestContext,
} from "../../backend/database/router/base/request_context";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";

/** A router under test and its hedge count. */
export interface BenchRouter {
  readonly router: ReplicaRouter;
  /** Hedges sent since start (the observer's routes with reason "hedge"). */
  hedges(): number;
}

/**
 * A started router over the primary and every replica of `cluster`, with
 * `loadConfig` defaults (only DATABASE_URL and READ_REPLICA_URLS set, plus
 * `env`) and RouterMetrics attached, as `npm start` runs it.
 */
export async function defaultRouter(
  cluster: LocalCluster,
  env: Record<string, string> = {},
): Promise<BenchRouter> {
  const config = loadConfig({
    ...env,
    DATABASE_URL: cluster.primary.url,
    READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
  });
  const metrics = new RouterMetrics();
  const router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    observer: metrics,
    cacheObserver: metrics.cache,
  });
  metrics.attach(router.roles);
  await router.start();
  return {
    router,
    hedges: () =>
      metrics
        .snapshot()
        .reads.reduce((n, r) => n + (r.reason === "hedge" ? r.count : 0), 0),
  };
}

/**
 * Runs `write` in a request that wants a consistency token, then asks for
 * the token as the HTTP layers do. @returns the write's result and the
 * token (null when the router could not produce one).
 */
export async function writeWithToken<T>(
  router: ReplicaRouter,
  write: () => Promise<T>,
): Promise<{ result: T; token: string | null }> {
  // `wantsToken` is unknown before issue 21; there it is an ignored field.
  const ctx: RequestContext = { servedBy: [], wantsToken: true };
  const result = await runWithRequestContext(ctx, write);
  if (ctx.wroteCluster === undefined)
    throw new Error("the write did not mark its request context");
  return { result, token: await router.tokenAfterWrite(ctx.wroteCluster, ctx) };
}

/**
 * Read-your-writes checks that found a replica of the first cluster
 * behind, summed over its replicas; null when this router does not count
 * them (before issue 21).
 */
export function guardMisses(router: ReplicaRouter): number | null {
  let sum = 0;
  for (const node of router.clusters[0]!.replicas) {
    const misses = (node as { guardMisses?: unknown }).guardMisses;
    if (typeof misses !== "number") return null;
    sum += misses;
  }
  return sum;
}

import type { JsonSafe } from "./cache/cache_entry";
import type { CachedRead } from "./cache/cache_types";
import type { Consistency } from "./consistency/consistency";
import type { QueryApi } from "./base/query_api";

/** What a read asks of the router. Unset fields come from the request context. */
export interface ReadOptions {
  /** Org the data belongs to; picks the cluster by org range. Default: the main cluster. */
  readonly orgId?: number;
  /** Freshness required (default `eventual`, or the request's `X-Consistency`). */
  readonly consistency?: Consistency;
  /** Endpoint name for per-endpoint switches, e.g. `finance.listRevenues`. */
  readonly endpoint?: string;
}

/** A connection for reads. Each statement is routed (and retried) on its own. */
export interface ReadConnection extends QueryApi {
  /** Name of the node that served the last statement, or null before the first. */
  readonly servedBy: string | null;
}

/** A connection to the primary of an org's cluster. */
export interface WriteConnection extends QueryApi {
  readonly servedBy: string;
  /**
   * A consistency token: a read carrying it will see every write this
   * connection has completed. In a request that wants a token (the HTTP
   * layers' requests) it comes from the positions those writes brought, with
   * no round trip; otherwise it is the primary's WAL position now.
   */
  consistencyToken(): Promise<string>;
}

/** The slice of the router repositories use, so they can be tested with fakes. */
export interface DatabaseRouter {
  getReadConnection(options?: ReadOptions): ReadConnection;
  getWriteConnection(orgId?: number): WriteConnection;
  /**
   * The cluster holding `orgId`'s data (org-range routing), so batched reads
   * can group ids per cluster.
   * @throws {OrgOutOfRangeError} when no range covers it.
   */
  clusterOf(orgId: number): { readonly name: string };
  /** Runs `fn` in one transaction on the org's primary; commits on return, rolls back on throw. */
  transaction<T>(
    orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T>;
  /**
   * A read through the query cache: the cached value when the read's
   * consistency accepts it (never for `strong`), else `fn`'s result on a
   * read connection, stored when it may be. Writes through the router to
   * `spec.tables` (of `spec.orgId`) invalidate it.
   */
  cachedRead<T>(
    spec: CachedRead & ReadOptions,
    fn: (db: ReadConnection) => Promise<T & JsonSafe<T>>,
  ): Promise<T>;
}

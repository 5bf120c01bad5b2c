import type { FillPosition } from "./cache/cache_types";
import type { Consistency } from "./consistency/consistency";
import type { ReadConnection, WriteConnection } from "./connections";
import type { ConcurrencyCaps } from "./limits/concurrency_caps";
import type { DbNode } from "./nodes/db_node";
import type { NodeCluster } from "./nodes/node_cluster";
import { QueryApi, type Row } from "./base/query_api";
import type { RequestContext } from "./base/request_context";

/** One read: which cluster, how fresh, for which endpoint and request. */
export interface ReadRequest {
  /** The org whose data it reads (undefined: the main cluster, or across orgs). */
  readonly orgId: number | undefined;
  readonly cluster: NodeCluster;
  readonly consistency: Consistency;
  readonly endpoint: string;
  readonly ctx: RequestContext | undefined;
  /** Set when the read fills a cache entry: each statement reports what its data includes. */
  readonly position: FillPosition | undefined;
  /** Told the node that served a statement, before its rows are returned. */
  served(node: DbNode): void;
}

/** The rows of a read (the node that served them goes to {@link ReadRequest.served}). */
export type ReadResult = Row[];

/**
 * What a connection asks of the router (the router implements it): its
 * caps and three statement paths. Connections never see the router class,
 * its timers or its fleet.
 */
export interface StatementPaths {
  /** Per-user and per-org concurrency caps, taken around each statement. */
  readonly caps: ConcurrencyCaps;
  /** Runs a routed read. */
  read(
    req: ReadRequest,
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<ReadResult>;
  /** Runs a write on the primary of `cluster` (and invalidates what it changed in the cache). */
  onPrimary(
    cluster: NodeCluster,
    sql: string,
    params: unknown[],
    ctx: RequestContext | undefined,
    orgId: number | undefined,
  ): Promise<Row[]>;
  /**
   * A token covering every write `ctx` completed on `clusterName`: from the
   * positions those writes brought, else the primary's position now.
   */
  consistencyToken(
    clusterName: string,
    ctx: RequestContext | undefined,
  ): Promise<string>;
}

/**
 * A read connection: each statement is routed on its own. It is its own
 * {@link ReadRequest} (no object per statement), and without caps a
 * statement adds no async step of its own to the router's.
 */
export class RoutedReadConnection
  extends QueryApi
  implements ReadConnection, ReadRequest
{
  servedBy: string | null = null;

  constructor(
    private readonly paths: StatementPaths,
    readonly orgId: number | undefined,
    readonly cluster: NodeCluster,
    readonly consistency: Consistency,
    readonly endpoint: string,
    readonly ctx: RequestContext | undefined,
    readonly position: FillPosition | undefined = undefined,
  ) {
    super();
  }

  /** @inheritdoc */
  served(node: DbNode): void {
    this.servedBy = node.name;
  }

  protected run(sql: string, params: unknown[], raw: boolean): Promise<Row[]> {
    if (this.paths.caps.enabled) return this.runCapped(sql, params, raw);
    return this.paths.read(this, sql, params, raw);
  }

  private async runCapped(
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<Row[]> {
    const release = await this.paths.caps.acquire(this.ctx?.userId, this.orgId);
    try {
      return await this.paths.read(this, sql, params, raw);
    } finally {
      release();
    }
  }
}

/** A connection to a cluster's primary. */
export class PrimaryConnection extends QueryApi implements WriteConnection {
  constructor(
    private readonly paths: StatementPaths,
    private readonly orgId: number | undefined,
    private readonly cluster: NodeCluster,
    private readonly ctx: RequestContext | undefined,
  ) {
    super();
  }

  get servedBy(): string {
    return this.cluster.primary.name;
  }

  consistencyToken(): Promise<string> {
    return this.paths.consistencyToken(this.cluster.name, this.ctx);
  }

  protected run(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.ctx !== undefined) this.ctx.wroteCluster = this.cluster.name;
    // Without caps (the default), no async step of its own.
    if (!this.paths.caps.enabled)
      return this.paths.onPrimary(
        this.cluster,
        sql,
        params,
        this.ctx,
        this.orgId,
      );
    return this.runCapped(sql, params);
  }

  private async runCapped(sql: string, params: unknown[]): Promise<Row[]> {
    const release = await this.paths.caps.acquire(this.ctx?.userId, this.orgId);
    try {
      return await this.paths.onPrimary(
        this.cluster,
        sql,
        params,
        this.ctx,
        this.orgId,
      );
    } finally {
      release();
    }
  }
}

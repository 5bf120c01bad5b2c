import type { Consistency } from "./consistency/consistency";
import type { ReadConnection, WriteConnection } from "./connections";
import type { NodeCluster } from "./nodes/node_cluster";
import type { PgClient } from "./nodes/pg_pool";
import { QueryApi, type Row } from "./query_api";
import type { ReplicaRouter } from "./replica_router";
import type { RequestContext } from "./request_context";

/** A read connection: each statement is routed on its own. */
export class RoutedReadConnection extends QueryApi implements ReadConnection {
  servedBy: string | null = null;

  constructor(
    private readonly router: ReplicaRouter,
    private readonly orgId: number | undefined,
    private readonly cluster: NodeCluster,
    private readonly consistency: Consistency,
    private readonly endpoint: string,
    private readonly ctx: RequestContext | undefined,
  ) {
    super();
  }

  protected async run(
    sql: string,
    params: unknown[],
    raw: boolean,
  ): Promise<Row[]> {
    const caps = this.router.caps;
    const release = caps.enabled
      ? await caps.acquire(this.ctx?.userId, this.orgId)
      : undefined;
    try {
      const { rows, node } = await this.router.read(
        this.cluster,
        this.consistency,
        this.endpoint,
        this.ctx,
        sql,
        params,
        raw,
      );
      this.servedBy = node.name;
      return rows;
    } finally {
      release?.();
    }
  }
}

/** A connection to a cluster's primary. */
export class PrimaryConnection extends QueryApi implements WriteConnection {
  constructor(
    private readonly router: ReplicaRouter,
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
    return this.router.consistencyToken(this.cluster.name);
  }

  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.ctx !== undefined) this.ctx.wroteCluster = this.cluster.name;
    const caps = this.router.caps;
    const release = caps.enabled
      ? await caps.acquire(this.ctx?.userId, this.orgId)
      : undefined;
    try {
      return await this.router.onPrimary(this.cluster, sql, params, this.ctx);
    } finally {
      release?.();
    }
  }
}

/** Statements inside a transaction, on one checked-out primary connection. */
export class ClientConnection extends QueryApi {
  constructor(private readonly client: PgClient) {
    super();
  }

  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.client.query(sql, params)).rows;
  }
}

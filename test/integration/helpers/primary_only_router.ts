/**
 * A minimal DatabaseRouter over one `pg.Pool`: every read, write and
 * transaction goes to the same server. For repository tests that are about
 * SQL, not routing (routing has its own suites against ReplicaRouter).
 */
import pg from "pg";
import type {
  DatabaseRouter,
  ReadConnection,
  WriteConnection,
} from "../../../backend/database/router/connections";
import {
  QueryApi,
  type Row,
} from "../../../backend/database/router/base/query_api";

/** Statements run against one pool (or one checked-out client). */
class PoolConnection
  extends QueryApi
  implements ReadConnection, WriteConnection
{
  readonly servedBy = "primary";

  constructor(private readonly db: pg.Pool | pg.PoolClient) {
    super();
  }

  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    return (await this.db.query(sql, params)).rows;
  }

  async consistencyToken(): Promise<string> {
    const { rows } = await this.db.query<{ lsn: string }>(
      "SELECT pg_current_wal_lsn()::text AS lsn",
    );
    return `main:${rows[0]!.lsn}`;
  }
}

/** All traffic to the server at `url`. Call {@link close} in afterAll. */
export class PrimaryOnlyRouter implements DatabaseRouter {
  readonly pool: pg.Pool;
  private readonly conn: PoolConnection;

  constructor(url: string, maxConnections = 10) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: maxConnections,
      connectionTimeoutMillis: 10_000,
    });
    this.pool.on("error", () => {}); // an idle client dropped by the server must not crash the worker
    this.conn = new PoolConnection(this.pool);
  }

  getReadConnection(): ReadConnection {
    return this.conn;
  }

  getWriteConnection(): WriteConnection {
    return this.conn;
  }

  clusterOf(): { readonly name: string } {
    return { name: "main" };
  }

  /** No cache: the plain alternative reads every time. */
  cachedRead<T>(
    _spec: unknown,
    fn: (db: ReadConnection) => Promise<T>,
  ): Promise<T> {
    return fn(this.conn);
  }

  async transaction<T>(
    _orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(new PoolConnection(client));
      await client.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

import type { PgClient } from "../nodes/pg_pool";
import { QueryApi, type Row } from "../base/query_api";

/** Statements inside a transaction, on one checked-out primary connection. */
export class TransactionConnection extends QueryApi {
  /** The distinct statement texts run, when the cache needs them to invalidate after COMMIT. */
  private readonly texts = new Set<string>();

  /** The distinct statement texts run so far (empty unless recording). */
  get statements(): readonly string[] {
    return [...this.texts];
  }

  constructor(
    private readonly client: PgClient,
    private readonly record: boolean,
  ) {
    super();
  }

  protected async run(sql: string, params: unknown[]): Promise<Row[]> {
    if (this.record) this.texts.add(sql);
    return (await this.client.query(sql, params)).rows;
  }
}

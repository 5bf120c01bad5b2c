import type {
  DatabaseRouter,
  ReadConnection,
  ReadOptions,
  WriteConnection,
} from "../../database/router/connections";
import type { QueryApi } from "../../database/router/query_api";

/**
 * Base class of every repository. Repositories never see pools or nodes:
 * reads take a connection from {@link getReadConnection} (a replica when one
 * may serve), writes from {@link getWriteConnection} (the primary).
 */
export abstract class BaseRepository {
  constructor(protected readonly router: DatabaseRouter) {}

  /** A connection for reads of `options.orgId`'s data. */
  protected getReadConnection(options?: ReadOptions): ReadConnection {
    return this.router.getReadConnection(options);
  }

  /** A connection to the primary holding `orgId`'s data. */
  protected getWriteConnection(orgId?: number): WriteConnection {
    return this.router.getWriteConnection(orgId);
  }

  /** Runs `fn` in a transaction on `orgId`'s primary. */
  protected transaction<T>(
    orgId: number | undefined,
    fn: (tx: QueryApi) => Promise<T>,
  ): Promise<T> {
    return this.router.transaction(orgId, fn);
  }
}

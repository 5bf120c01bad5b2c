import type {
  CachedRead,
  DatabaseRouter,
  JsonSafe,
  QueryApi,
  ReadConnection,
  ReadOptions,
  WriteConnection,
} from "../../database/router/index";

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

  /**
   * A read worth caching (a sum, totals, a first page): `fn` runs on a read
   * connection on a miss, and its result is kept for `spec.ttlMs` unless a
   * write through the router to `spec.tables` (for `spec.orgId`) comes
   * first. Each consistency level keeps its guarantee (docs/cache.md):
   * `strong` never uses the cache, a token read only an entry that includes
   * the token's write, `bounded` only one within its bound. `fn` must read
   * only `spec.tables`, and return plain JSON (strings, numbers, arrays,
   * objects).
   */
  protected cachedRead<T>(
    spec: CachedRead & ReadOptions,
    fn: (db: ReadConnection) => Promise<T & JsonSafe<T>>,
  ): Promise<T> {
    return this.router.cachedRead(spec, fn);
  }
}

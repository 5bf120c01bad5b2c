import pg from "pg";
import type { PoolConfig } from "../config/config";

/** The slice of `pg.Pool` the router uses; unit tests pass fakes. */
export interface PgPool {
  query(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[] }>;
  connect(): Promise<PgClient>;
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  on(event: "error", listener: (err: Error) => void): unknown;
  end(): Promise<void>;
}

/** A connection checked out of a pool (for transactions). */
export interface PgClient {
  query(
    text: string,
    values?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[] }>;
  release(destroy?: boolean | Error): void;
  /** Backend pid of this connection (for `pg_cancel_backend`), once connected. */
  readonly processID?: number | null;
  /**
   * A checked-out `pg` client emits `error` when its connection dies; with no
   * listener that event would crash the process (pool.query attaches one for
   * its own checkouts; a caller holding a client must do the same).
   */
  on?(event: "error", listener: (err: Error) => void): unknown;
  off?(event: "error", listener: (err: Error) => void): unknown;
}

/** Builds the pool of one node. */
export type PoolFactory = (
  url: string,
  limits: PoolConfig,
  applicationName: string,
) => PgPool;

// bigint columns (int8, OID 20) stay strings by default in pg, which is what
// the API returns; numeric likewise. Nothing to register.

/**
 * Options both factories share: the `DB_*` limits, the client-side query
 * backstop and TCP keep-alive. Neither session setting is in here; each
 * factory sets them its own way.
 */
function sharedPoolOptions(url: string, limits: PoolConfig): pg.PoolConfig {
  return {
    connectionString: url,
    max: limits.maxConnections,
    min: limits.minConnections,
    idleTimeoutMillis: limits.idleTimeoutMs,
    maxLifetimeSeconds: Math.max(1, Math.round(limits.maxLifetimeMs / 1000)),
    connectionTimeoutMillis: limits.connectionTimeoutMs,
    // Client-side backstop for a server that stopped answering (network partition).
    query_timeout: limits.queryTimeoutMs + 1_000,
    keepAlive: true,
    // The OS default waits two hours before the first probe; a peer that
    // vanished silently is probed after 10 s (interval and count stay the OS's).
    keepAliveInitialDelayMillis: 10_000,
  };
}

/**
 * The default factory: a `pg.Pool` with the `DB_*` limits applied, and
 * `statement_timeout` (`DB_QUERY_TIMEOUT`) and `application_name` sent as
 * startup parameters when each connection opens. Right for a direct
 * connection to PostgreSQL; behind a proxy that drops startup parameters use
 * {@link createPgPoolSettingSessionOnConnect}.
 */
export const createPgPool: PoolFactory = (url, limits, applicationName) =>
  new pg.Pool({
    ...sharedPoolOptions(url, limits),
    // Server-side limit, so a runaway query is cancelled and the connection stays usable.
    statement_timeout: limits.queryTimeoutMs,
    application_name: applicationName,
  });

// One statement, both values as parameters: nothing is interpolated into SQL.
// is_local = false makes them session settings, so they outlive the implicit
// transaction of this statement and every transaction run later.
const SESSION_SETUP_SQL =
  "SELECT set_config('statement_timeout', $1, false), set_config('application_name', $2, false)";

/** The part of a freshly connected client the session setup uses. */
interface SessionClient {
  query(text: string, values: unknown[]): Promise<unknown>;
}

/**
 * pg-pool's `onConnect` (since 3.14): awaited after a new client connects and
 * before the pool hands it out or emits `connect`; on a rejection pg-pool ends
 * the client and passes the error to whoever asked for a connection. Typed
 * here because @types/pg declares it as returning `void`.
 */
interface PoolConfigWithOnConnect extends pg.PoolConfig {
  onConnect: (client: SessionClient) => Promise<void>;
}

// Source, read at encoredev/encore 2b626e8 and encoredev/rust-postgres
// e71577e (branch encore-patches-sync, the one Encore's Cargo.toml pins):
// - encore `runtimes/core/src/sqldb/manager.rs`: a SQLDatabase's connection
//   string is `proxy_conn_string` (postgresql://encore:password@127.0.0.1:
//   <proxy port>/<db>); `Bouncer::handle_startup` reads only `database` from
//   the client's startup parameters and answers with the database's own
//   `backend_config`, built with `config.application_name("encore")` and no
//   statement_timeout.
// - rust-postgres `tokio-postgres/src/proxy/mod.rs`: `handle_conn` opens the
//   upstream connection with `connect_proxy(.., &accept.backend_config)`, so
//   the client's parameters never reach PostgreSQL; afterwards `proxy_data`
//   `copy_bidirectional`s the two sockets: one upstream connection per client
//   connection, so a session setting made by a statement lasts as long as the
//   pool's connection. (A transaction-mode pooler such as PgBouncer's breaks
//   that pairing; this factory is not for it.)

/**
 * A factory for pools behind Encore's database proxy, which drops the
 * client's startup parameters: the same pool as {@link createPgPool}, but
 * `statement_timeout` (`DB_QUERY_TIMEOUT`) and `application_name`
 * (`<prefix>:<node>`) are set on every new connection by one parameterised
 * `set_config` statement, run before the pool hands the connection out.
 * Without it, under Encore there is no server-side statement timeout and
 * every connection is named `encore`. The Encore edge passes it as
 * `poolFactory`.
 *
 * Cost: one extra round trip per new connection, none per query. The
 * statement is bounded by `query_timeout`, not `connectionTimeoutMillis`.
 *
 * If the statement fails, pg-pool ends that connection and the caller of
 * `query()` / `connect()` gets the error (e.g. SQLSTATE 22023 for a value the
 * server rejects); the connection is never used.
 */
export const createPgPoolSettingSessionOnConnect: PoolFactory = (
  url,
  limits,
  applicationName,
) => {
  const options: PoolConfigWithOnConnect = {
    ...sharedPoolOptions(url, limits),
    onConnect: async (client) => {
      await client.query(SESSION_SETUP_SQL, [
        `${limits.queryTimeoutMs}ms`,
        applicationName,
      ]);
    },
  };
  return new pg.Pool(options);
};

/** `host:port/db` of a connection string: what status pages may show. */
export function describeAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "(invalid address)";
  }
}

/**
 * Opens a connection of its own to `url` (outside every pool), runs
 * `SELECT 1`, and closes it, all within `timeoutMs`; the socket is
 * destroyed either way. For liveness probes that must not wait behind the
 * pool's busy connections (a pool full of long reads is not a dead node)
 * nor leave a connection in it when the node is silent.
 */
export async function probeConnection(
  url: string,
  applicationName: string,
  timeoutMs: number,
): Promise<void> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: applicationName,
  });
  client.on("error", () => undefined); // reported through connect/query
  try {
    await client.connect();
    await client.query("SELECT 1");
  } finally {
    // end() waits for the peer; a silent one never answers: drop the socket.
    (
      client as unknown as { connection?: { stream?: { destroy(): void } } }
    ).connection?.stream?.destroy();
  }
}

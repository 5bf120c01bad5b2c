import pg from "pg";
import type { PoolConfig } from "./config";

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
}

/** Builds the pool of one node. */
export type PoolFactory = (
  url: string,
  limits: PoolConfig,
  applicationName: string,
) => PgPool;

// bigint columns (int8, OID 20) stay strings by default in pg, which is what
// the API returns; numeric likewise. Nothing to register.

/** The real factory: a `pg.Pool` with the `DB_*` limits applied. */
export const createPgPool: PoolFactory = (url, limits, applicationName) =>
  new pg.Pool({
    connectionString: url,
    max: limits.maxConnections,
    min: limits.minConnections,
    idleTimeoutMillis: limits.idleTimeoutMs,
    maxLifetimeSeconds: Math.max(1, Math.round(limits.maxLifetimeMs / 1000)),
    connectionTimeoutMillis: limits.connectionTimeoutMs,
    // Server-side limit, so a runaway query is cancelled and the connection stays usable.
    statement_timeout: limits.queryTimeoutMs,
    // Client-side backstop for a server that stopped answering (network partition).
    query_timeout: limits.queryTimeoutMs + 1_000,
    application_name: applicationName,
    keepAlive: true,
  });

/** `host:port/db` of a connection string: what status pages may show. */
export function describeAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname || "/"}`;
  } catch {
    return "(invalid address)";
  }
}

/**
 * Encore edge: declares the primary and three replica databases and builds
 * the process-wide ReplicaRouter from their connection strings.
 *
 * - Self-hosted (`encore build docker --config infra.config.json`): each
 *   `replica_N` key in infra.config.json points at a streaming replica of the
 *   primary (see docs/provisioning.md), and reads are balanced across them.
 * - `encore run` / `encore test` / Encore Cloud: Encore creates each replica
 *   as an empty, independent database. The router's health probe sees it is
 *   not in recovery, reports it `not_a_replica` in the status endpoint, and
 *   every read goes to the primary: nothing fails, nothing reads empty tables.
 *
 * More replicas than three come from READ_REPLICA_URLS (a secret or env var),
 * appended after the declared ones.
 */
import {
  SQLDatabase,
  type Primitive as EncorePrimitive,
} from "encore.dev/storage/sqldb";
import { loadConfig } from "./router/config";
import type { Primitive } from "./router/query_api";
import { RouterMetrics } from "./metrics";
import { ReplicaRouter } from "./router/replica_router";

/** The primary, with the finance migrations (applied by Encore). */
export const primaryDb = new SQLDatabase("primary", {
  migrations: "../../migrations",
});
// Replicas: declared without migrations, they hold whatever the primary replicates.
export const replica1 = new SQLDatabase("replica_1");
export const replica2 = new SQLDatabase("replica_2");
export const replica3 = new SQLDatabase("replica_3");

// Compile-time check that the core's Primitive is Encore's, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const primitivesAgree: Same<Primitive, EncorePrimitive> = true;
void primitivesAgree;

const extra = (process.env.READ_REPLICA_URLS ?? "")
  .split(",")
  .filter((s) => s.trim() !== "");
const config = loadConfig({
  ...process.env,
  DATABASE_URL: primaryDb.connectionString,
  READ_REPLICA_URLS: [replica1, replica2, replica3]
    .map((db) => db.connectionString)
    .concat(extra)
    .join(","),
});

/** Prometheus metrics of the router, served by the `/metrics` endpoint. */
export const metrics = new RouterMetrics();

/** The router every Encore endpoint of this app uses. */
export const router = new ReplicaRouter(config.router, { observer: metrics });
metrics.attach(router);

/** Settings of this process that are not the router's (admin token). */
export const serviceConfig = config;

/** Resolves once the first health check and lag sample are done. */
export const routerReady: Promise<void> = router.start();

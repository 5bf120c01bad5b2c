/**
 * Encore edge: the primary and three replica databases of the database
 * service, declared beside their migrations (Encore's parser refuses a
 * `migrations` path with "..": `LocalRelPath`, tsparser/litparser/src/lib.rs).
 * database/encore/service.ts builds the router from their connection
 * strings.
 *
 * - Self-hosted (`encore build docker --config infra.config.json`): each
 *   `replica_N` key in infra.config.json points at a streaming replica of the
 *   primary (see docs/provisioning.md), and reads are balanced across them.
 * - `encore run` / `encore test` / Encore Cloud: Encore creates each replica
 *   as an empty, independent database. The router's health probe sees it is
 *   not in recovery, reports it `not_a_replica` in the status endpoint, and
 *   every read goes to the primary: nothing fails, nothing reads empty tables.
 */
import { SQLDatabase } from "encore.dev/storage/sqldb";

/**
 * The primary, with the finance migrations (applied by Encore). The path is
 * local and relative: Encore's parser refuses ".." (`LocalRelPath`,
 * tsparser/litparser/src/lib.rs), so the files live beside this declaration.
 */
export const primaryDb = new SQLDatabase("primary", {
  migrations: "./migrations",
});
// Replicas: declared without migrations, they hold whatever the primary replicates.
export const replica1 = new SQLDatabase("replica_1");
export const replica2 = new SQLDatabase("replica_2");
export const replica3 = new SQLDatabase("replica_3");

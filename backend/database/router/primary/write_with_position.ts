import {
  isServerError,
  PipelinedWrite,
  serializeParams,
  type PipelinedResult,
} from "../nodes/pipelined_write";
import type { PgClient, PgPool } from "../nodes/pg_pool";
import { TransactionRolledBackError } from "../base/errors";

/** A pg client that runs submittables (every `pg` client does). */
interface SubmittingClient {
  query(submittable: PipelinedWrite): unknown;
}

/**
 * Runs `sql` as a {@link PipelinedWrite} on a connection of `pool`: the
 * caller's rows and the primary's WAL position after the commit, in one
 * round trip. A statement the server refuses surfaces its error as the
 * statement alone would; the block it aborted is rolled back (a second
 * round trip, on this path only) and the connection goes back to the pool.
 * A connection that failed, or whose ROLLBACK failed, is destroyed.
 *
 * @throws the pool's error when no connection can be had, the server's error
 *   for the statement or its COMMIT, or pg's error for a broken connection.
 */
export async function runPipelinedWrite(
  pool: PgPool,
  sql: string,
  params: readonly unknown[],
): Promise<PipelinedResult> {
  // A parameter that cannot be serialised fails before a checkout.
  const values = serializeParams(params);
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client that dies emits `error`; without a listener that would crash the process.
  client.on?.("error", ignoreError);
  try {
    for (let attempt = 1; ; attempt++) {
      const write = new PipelinedWrite(sql, values);
      (client as unknown as SubmittingClient).query(write);
      try {
        const done = await write.done;
        if (write.abandoned)
          broken = new Error("write flight given up after its COMMIT");
        return done;
      } catch (err) {
        if (!isServerError(err)) {
          broken = asError(err);
          throw err;
        }
        if (write.leftBlockOpen(err))
          await client.query("ROLLBACK").catch((e: unknown) => {
            broken = asError(e);
          });
        // At most twice more: a name gone, then (if only some were) taken.
        if (broken !== undefined || attempt > 2 || !write.retryable(err))
          throw err;
      }
    }
  } finally {
    client.off?.("error", ignoreError);
    client.release(broken);
  }
}

/**
 * COMMITs the transaction open on `client` and reads the primary's WAL
 * position after it, in one round trip. Returns the position (null when
 * the commit succeeded but the read did not), and whether the client may
 * be reused (not when pg gave the flight up after the COMMIT's answer).
 * The client stays checked out.
 * @throws the COMMIT's error, or {@link TransactionRolledBackError} when
 *   the server answered ROLLBACK (the transaction is then over, rolled back).
 */
export async function commitWithPosition(
  client: PgClient,
): Promise<{ lsn: string | null; reusable: boolean }> {
  const write = new PipelinedWrite("COMMIT", [], false);
  (client as unknown as SubmittingClient).query(write);
  const done = await write.done;
  if (done.command === "ROLLBACK")
    throw new TransactionRolledBackError(!write.abandoned);
  return { lsn: done.lsn, reusable: !write.abandoned };
}

/**
 * COMMITs the transaction open on `client`.
 * @throws the COMMIT's error, or {@link TransactionRolledBackError} when
 *   the server answered ROLLBACK.
 */
export async function commit(client: PgClient): Promise<void> {
  const result = (await client.query("COMMIT")) as { command?: string };
  if (result.command === "ROLLBACK") throw new TransactionRolledBackError();
}

function ignoreError(): void {}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

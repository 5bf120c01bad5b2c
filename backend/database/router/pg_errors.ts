import { InvalidArgumentError, RouterError } from "./errors";

/**
 * Sorts a `pg` error by whose fault it is, which decides retry and blame:
 * - `node`: the server or the connection failed (refused, reset, timeout,
 *   SQLSTATE class 08, admin/crash shutdown 57P01..57P03, too many
 *   connections 53300). Counted against the node; the read is retried elsewhere.
 * - `read_only`: a replica refused a write (25006). The statement is retried
 *   on the primary; not the node's fault.
 * - `recovery_conflict`: a replica cancelled the query because replay needed
 *   its rows (40001 with a hot-standby message, 40P01). Retried elsewhere, not counted.
 * - `caller`: anything else (syntax, constraint, permission...). Never retried.
 */
export type PgErrorKind = "node" | "read_only" | "recovery_conflict" | "caller";

const NODE_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ECONNABORTED",
]);

/** Classifies an error thrown by a `pg` query or connect. */
export function classifyPgError(err: unknown): PgErrorKind {
  if (typeof err !== "object" || err === null) return "caller";
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : "";
  if (code.length === 5) {
    if (
      code.startsWith("08") ||
      code === "57P01" ||
      code === "57P02" ||
      code === "57P03" ||
      code === "53300"
    ) {
      return "node";
    }
    if (code === "25006") return "read_only";
    if (
      code === "40P01" ||
      (code === "40001" && /recovery/i.test(String(e.message)))
    )
      return "recovery_conflict";
    return "caller";
  }
  if (NODE_ERRNOS.has(code)) return "node";
  const message = typeof e.message === "string" ? e.message : "";
  // pg's own client-side failures carry no code.
  if (
    /Connection terminated|timeout exceeded when trying to connect|Query read timeout|connection timeout|Client has encountered a connection error|Connection ended|Cannot use a pool after calling end on the pool|the database system is (starting up|shutting down|in recovery mode)/i.test(
      message,
    )
  ) {
    return "node";
  }
  return "caller";
}

/** A short, password-free description of an error for status pages and logs. */
export function describePgError(err: unknown): string {
  if (typeof err !== "object" || err === null) return String(err);
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" && e.code !== "" ? `${e.code}: ` : "";
  const message = typeof e.message === "string" ? e.message : "unknown error";
  // Connection errors can echo the URL; strip anything that looks like credentials.
  return (code + message).replace(/\/\/[^@\s/]*@/g, "//***@").slice(0, 300);
}

/**
 * The error as the caller should see it: router errors as they are;
 * PostgreSQL data and constraint errors (SQLSTATE classes 22, 23) as a 400
 * that names only the SQLSTATE, since the server's message may quote values;
 * null for anything else (an internal error). Both front doors use this.
 */
export function toRouterError(err: unknown): RouterError | null {
  if (err instanceof RouterError) return err;
  const sqlstate = (err as { code?: unknown } | null)?.code;
  if (typeof sqlstate === "string" && /^(22|23)[0-9A-Z]{3}$/.test(sqlstate)) {
    return new InvalidArgumentError(
      "value",
      `the database rejected it (SQLSTATE ${sqlstate})`,
    );
  }
  return null;
}

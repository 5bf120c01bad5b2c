import { InvalidArgumentError, RouterError } from "./errors";

/**
 * Sorts a `pg` error by whose fault it is, which decides retry and blame:
 * - `node`: the server or the connection failed (refused, reset, timeout,
 *   SQLSTATE class 08, admin/crash shutdown 57P01..57P03, too many
 *   connections 53300). Counted against the node; the read is retried elsewhere.
 * - `read_only`: a hot standby refused the statement because it must run on
 *   the primary: 25006 (read-only transaction, or "cannot execute ... during
 *   recovery"), or a 55000, 0A000 or XX000 whose message says it was refused
 *   because the server is in recovery (see {@link isStandbyRefusal}). The
 *   statement is retried on the primary; not the node's fault.
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

// SQLSTATEs PostgreSQL uses for refusals during recovery besides 25006, and
// only with one of these messages; each also has other meanings (55000
// "currval of sequence ... is not yet defined in this session", 0A000 for
// unsupported features, XX000 for internal errors) that stay caller errors.
const RECOVERY_REFUSAL_SQLSTATES: ReadonlySet<string> = new Set([
  "55000", // object_not_in_prerequisite_state
  "0A000", // feature_not_supported
  "XX000", // internal_error: elog(ERROR) in the transaction and WAL machinery
]);

// The errmsg texts of those refusals, from PostgreSQL's source (13..17):
//   55000 "recovery is in progress" (xlogfuncs.c WAL control functions, brin.c,
//         ginfast.c, contrib/pg_surgery; the hint says which)
//   55000 "cannot acquire lock mode %s on database objects while recovery is in progress" (lock.c)
//   0A000 "cannot set transaction read-write mode during recovery" (variable.c)
//   0A000 "cannot access temporary or unlogged relations during recovery" (plancat.c)
//   0A000 "cannot use serializable mode in a hot standby" (variable.c)
//   0A000 "logical decoding cannot be used while in recovery" (logical.c, before PostgreSQL 16)
//   XX000 "cannot assign TransactionIds during recovery" (varsup.c),
//         "cannot assign OIDs during recovery" (varsup.c),
//         "cannot assign MultiXactIds during recovery" (multixact.c),
//         "cannot make new WAL entries during recovery" (xloginsert.c)
// "recovery is not in progress" (a primary refusing a standby-only function)
// matches none of them.
const RECOVERY_REFUSAL_MESSAGE =
  /recovery is in progress|during recovery|while in recovery|in a hot standby/i;

/**
 * True when SQLSTATE `code` with `message` is a hot standby refusing work
 * that only a primary can do (55000, 0A000 or XX000 with a recovery message).
 * 25006 is not included here: it always means "run this on the primary".
 */
export function isStandbyRefusal(code: string, message: unknown): boolean {
  return (
    RECOVERY_REFUSAL_SQLSTATES.has(code) &&
    typeof message === "string" &&
    RECOVERY_REFUSAL_MESSAGE.test(message)
  );
}

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
    if (code === "25006" || isStandbyRefusal(code, e.message))
      return "read_only";
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

/**
 * What kind of failure a node fault is, in words fit for any caller: never
 * a host, port, user, database or driver text (those go to the node's
 * status and the log, see {@link describePgError}).
 */
export function failureCategory(err: unknown): string {
  const e = (typeof err === "object" && err !== null ? err : {}) as {
    code?: unknown;
    message?: unknown;
  };
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : "";
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ETIMEDOUT":
      return "timed out";
    case "ECONNRESET":
    case "EPIPE":
    case "ECONNABORTED":
      return "connection lost";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "unreachable";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "53300":
      return "too many connections";
    case "57P01":
    case "57P02":
    case "57P03":
      return "shutting down or starting up";
  }
  if (code.startsWith("28")) return "authentication failed";
  if (code.startsWith("08")) return "connection failure";
  // Any other server error: its SQLSTATE says what kind, and nothing more.
  if (/^[0-9A-Z]{5}$/.test(code)) return `server error (SQLSTATE ${code})`;
  if (/timeout/i.test(message)) return "timed out";
  if (/Connection terminated|Connection ended/i.test(message))
    return "connection lost";
  return "connection failure";
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

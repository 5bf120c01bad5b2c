/**
 * Errors the router raises. Each has a stable `code` that maps one-to-one onto
 * Encore's error codes (and so onto HTTP statuses). Messages may name nodes,
 * fields and numbers, never query parameters, passwords or connection strings.
 */
export type RouterErrorCode =
  | "invalid_argument"
  | "not_found"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "unavailable"
  | "internal";

/** The HTTP status of each code, as Encore's gateway maps them (and the standalone server copies). */
export const HTTP_STATUS: Readonly<Record<RouterErrorCode, number>> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  resource_exhausted: 429,
  unavailable: 503,
  internal: 500,
};

/** Base class of every error the router and repositories throw on purpose. */
export class RouterError extends Error {
  constructor(
    readonly code: RouterErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input from the caller; `field` names what was wrong. */
export class InvalidArgumentError extends RouterError {
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("invalid_argument", `${field}: ${message}`, options);
  }
}

/** The requested row or object does not exist (for this org). */
export class NotFoundError extends RouterError {
  constructor(message: string) {
    super("not_found", message);
  }
}

/** An org id that no configured org range covers. */
export class OrgOutOfRangeError extends RouterError {
  constructor(readonly orgId: number) {
    super(
      "invalid_argument",
      `orgId: ${orgId} is not covered by any configured org range`,
    );
  }
}

/** The node that must answer (the primary, for writes) cannot be reached. */
export class NodeUnavailableError extends RouterError {
  constructor(
    readonly node: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("unavailable", `${node}: ${message}`, options);
  }
}

/** A caller exceeded its concurrency cap and waited too long for a slot. */
export class ConnectionCapExceededError extends RouterError {
  constructor(message: string) {
    super("resource_exhausted", message);
  }
}

/**
 * A node's pool is saturated: the statement found its wait queue full, or
 * waited `DB_POOL_QUEUE_TIMEOUT` without a connection. Answered 503 with
 * `Retry-After`, quickly, rather than queueing without bound.
 */
export class OverloadedError extends RouterError {
  constructor(
    readonly node: string,
    readonly why: "queue_full" | "queue_timeout",
    /** Seconds a client should wait before retrying. */
    readonly retryAfterSeconds = 1,
  ) {
    super(
      "unavailable",
      why === "queue_full"
        ? `${node}: too busy (connection queue full); retry shortly`
        : `${node}: too busy (no connection free within the queue timeout); retry shortly`,
    );
  }
}

/**
 * A transaction's COMMIT was answered ROLLBACK: a statement in it had
 * failed and the error was caught inside the transaction function, which
 * then returned normally. PostgreSQL rolls such a transaction back without
 * an error; the router raises one, so no caller takes the rolled-back
 * writes for committed.
 */
export class TransactionRolledBackError extends RouterError {
  constructor(
    /** False when the connection must not be reused (pg gave its flight up). */
    readonly connectionReusable = true,
  ) {
    super(
      "internal",
      "the transaction was rolled back at COMMIT because a statement in it failed (its error was caught inside the transaction); nothing in it was written",
    );
  }
}

/** The router was used after `close()`. */
export class RouterClosedError extends RouterError {
  constructor() {
    super("unavailable", "the replica router is closed");
  }
}

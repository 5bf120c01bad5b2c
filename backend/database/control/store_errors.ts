import { classifyPgError, failureCategory, RouterError } from "../router/index";
import type { CommitUnconfirmedError } from "./control_store";

/**
 * The control store cannot be reached (or lacks its tables): the change was
 * made on no instance. 503.
 */
export class ControlStoreUnavailableError extends RouterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}

/**
 * The error a caller sees when a store call failed: 503 when the store is
 * unreachable, busy or lacks its tables; 500 for anything else, such as
 * missing privileges, which waiting will not fix (the caller logs it).
 * `unreachable` says the store itself is down or busy.
 */
export function storeCallError(
  err: unknown,
  what: string,
): { error: RouterError; unreachable: boolean } {
  const code = (err as { code?: unknown } | null)?.code;
  const busy = code === "57014" || code === "55P03" || code === "ETIMEDOUT";
  if (code === "42P01")
    return {
      error: new ControlStoreUnavailableError(
        `the fleet control tables are missing: apply the migrations (3_create_fleet_control); ${what}`,
        { cause: err },
      ),
      unreachable: false,
    };
  if (classifyPgError(err) === "node" || busy || code === "25006")
    return {
      error: new ControlStoreUnavailableError(
        `the fleet's control store (the main cluster's primary) is unavailable (${failureCategory(err)}); ${what}; retry when it is back`,
        { cause: err },
      ),
      unreachable: true,
    };
  return {
    error: new RouterError(
      "internal",
      `the fleet's control store refused the call (${failureCategory(err)}); ${what}`,
      { cause: err },
    ),
    unreachable: false,
  };
}

/** A COMMIT the store did not confirm: the change may or may not be stored. 503. */
export function unconfirmedCommit(
  err: CommitUnconfirmedError,
): ControlStoreUnavailableError {
  return new ControlStoreUnavailableError(
    `the control store did not confirm the change (${failureCategory(err.cause)}): it may have been stored; check GET /v1/system/database/replicas/admin/audit once the primary answers; every instance converges to whatever was stored`,
    { cause: err },
  );
}

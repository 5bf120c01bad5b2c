import { RouterError } from "../../database/router/index";
import { parseOrgId } from "../http/validation";

/**
 * Who is calling a domain endpoint, as authentication established it (an
 * API key under both front doors, or the local developer with AUTH=off).
 */
export interface Caller {
  /** The user the key was issued to: per-user caps count this, never a header. */
  readonly userId: string;
  /** The orgs the caller may read and write; `all` for a service account or AUTH=off. */
  readonly orgs: readonly number[] | "all";
}

/** The caller with AUTH=off (local development only; refused in production). */
export const LOCAL_DEVELOPER: Caller = { userId: "local", orgs: "all" };

/** What a domain endpoint answers without a caller (401). */
export class UnauthenticatedError extends RouterError {
  constructor(
    message = "this endpoint needs an API key: Authorization: Bearer <key>",
  ) {
    super("unauthenticated", message);
  }
}

/** The caller may not do this (403). */
export class PermissionDeniedError extends RouterError {
  constructor(message: string) {
    super("permission_denied", message);
  }
}

/**
 * Checks that `caller` may touch the org in the request path, before
 * anything reads the database: the answer is the same 403 whether or not
 * that org (or the row asked for) exists, so nothing about another tenant
 * leaks. A malformed org id is a 400, as before.
 *
 * @throws {UnauthenticatedError} without a caller.
 * @throws {PermissionDeniedError} when the org is not the caller's.
 */
export function requireOrgAccess(
  caller: Caller | undefined,
  orgParam: string | undefined,
): void {
  if (caller === undefined) throw new UnauthenticatedError();
  if (caller.orgs === "all") return;
  const orgId = parseOrgId(orgParam);
  if (!caller.orgs.includes(orgId))
    throw new PermissionDeniedError(
      `this API key does not grant access to org ${orgId}`,
    );
}

/**
 * Establishes the caller of a domain request from its `Authorization`
 * header: null when it names none.
 *
 * @throws {RouterError} `unavailable` when the key could not be checked.
 */
export type Authenticate = (
  authorization: string | undefined,
) => Promise<Caller | null>;

/** The {@link Authenticate} of the AUTH setting: API keys, or (AUTH=off) always the local developer. */
export function authenticator(
  mode: "keys" | "off",
  keys: { authenticate: Authenticate },
): Authenticate {
  if (mode === "off") return () => Promise.resolve(LOCAL_DEVELOPER);
  return (authorization) => keys.authenticate(authorization);
}

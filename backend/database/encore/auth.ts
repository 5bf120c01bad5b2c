/**
 * Encore edge: who calls the domain endpoints (`auth: true`). The gateway
 * runs this handler for every request that carries its parameter
 * (`Authorization`), public endpoints included: the monitoring and admin
 * routes read their own bearer tokens from the same header. So it must
 * never fail a request with anything but `unauthenticated`, which Encore
 * turns into a 401 only on endpoints that require auth and ignores on the
 * others; any other error would end every such request
 * (runtimes/core/src/api/auth/mod.rs, `Authenticator::authenticate`;
 * runtimes/core/src/api/gateway/mod.rs). The parameter type may hold only
 * Header and Query fields, and both types must be written out
 * (tsparser/src/parser/resources/apis/authhandler.rs).
 */
import { APIError, ErrCode, Gateway, type Header } from "encore.dev/api";
import { authHandler } from "encore.dev/auth";
import type { Caller } from "../../shared/auth/caller";
import { service, serviceReady } from "./service";

/** What the gateway hands the handler: the header only. */
interface AuthParams {
  authorization: Header<"Authorization">;
}

/** The caller, as Encore keeps it for the request (`getAuthData`). */
export interface CallerData {
  /** The key's user: Encore's traces show it; per-user caps count it. */
  userID: string;
  /** The orgs the key grants (empty with `allOrgs`). */
  orgIds: number[];
  /** A service account's key: every org. */
  allOrgs: boolean;
}

export const auth = authHandler<AuthParams, CallerData>(
  async (params: AuthParams): Promise<CallerData> => {
    let caller: Caller | null;
    try {
      await serviceReady;
      caller = await service.authenticate(params.authorization);
    } catch (err) {
      service.logger.warn("api key not checked", {
        error: err instanceof Error ? err.name : "error",
      });
      throw new APIError(
        ErrCode.Unauthenticated,
        "the API key could not be checked now (its store is unreachable); retry",
      );
    }
    if (caller === null)
      throw new APIError(ErrCode.Unauthenticated, "invalid API key");
    return {
      userID: caller.userId,
      orgIds: caller.orgs === "all" ? [] : [...caller.orgs],
      allOrgs: caller.orgs === "all",
    };
  },
);

export const gateway = new Gateway({ authHandler: auth });

/** The {@link Caller} of Encore's auth data (null: none). */
export function callerOf(data: CallerData | null): Caller | undefined {
  if (data === null) return undefined;
  return { userId: data.userID, orgs: data.allOrgs ? "all" : data.orgIds };
}

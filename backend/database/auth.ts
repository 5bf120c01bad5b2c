/**
 * Encore edge: the gateway's auth handler for admin endpoints. Same rules as
 * the standalone server: ADMIN_TOKEN unset → 403 (admin API disabled), no
 * bearer token → 401, wrong token → 403; compared in constant time.
 */
import { APIError, Gateway, type Header } from "encore.dev/api";
import { authHandler } from "encore.dev/auth";
import { checkAdminToken } from "../shared/http/admin_auth";
import { serviceConfig } from "./databases";

interface AuthParams {
  authorization?: Header<"Authorization">;
}

interface AuthData {
  userID: string;
}

export const adminAuth = authHandler<AuthParams, AuthData>(async (params) => {
  const denied = checkAdminToken(
    params.authorization,
    serviceConfig.adminToken,
  );
  if (denied === null) return { userID: "admin" };
  throw denied.code === "unauthenticated"
    ? APIError.unauthenticated(denied.message)
    : APIError.permissionDenied(denied.message);
});

export const gateway = new Gateway({ authHandler: adminAuth });

import { createHash, timingSafeEqual } from "node:crypto";
import type { RouterErrorCode } from "../../database/router/index";

/** Why an admin request is refused. */
export interface AdminDenial {
  status: 401 | 403;
  code: Extract<RouterErrorCode, "unauthenticated" | "permission_denied">;
  message: string;
}

/**
 * Checks `Authorization: Bearer <token>` against ADMIN_TOKEN. Never open by
 * default: with no ADMIN_TOKEN every admin route is refused (403). Compares
 * SHA-256 digests in constant time, so neither content nor length leaks.
 *
 * @returns null when allowed, else the refusal.
 */
export function checkAdminToken(
  authorization: string | undefined,
  adminToken: string | null,
): AdminDenial | null {
  if (adminToken === null) {
    return {
      status: 403,
      code: "permission_denied",
      message:
        "the admin API is disabled: set ADMIN_TOKEN (under Encore, the AdminToken secret) to enable it",
    };
  }
  const token = bearerOf(authorization);
  if (token === null)
    return {
      status: 401,
      code: "unauthenticated",
      message: "admin routes need Authorization: Bearer <ADMIN_TOKEN>",
    };
  if (!timingSafeEqual(sha256(token), sha256(adminToken))) {
    return {
      status: 403,
      code: "permission_denied",
      message: "wrong admin token",
    };
  }
  return null;
}

/** The token of `Authorization: Bearer <token>`, or null for anything else. */
export function bearerOf(authorization: string | undefined): string | null {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return m === null ? null : m[1]!;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

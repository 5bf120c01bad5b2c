import { z } from "zod";
import { InvalidArgumentError } from "../router/index";
import type { ApiKeyStore } from "../../shared/auth/key_store";
import { parseBody, USER_ID_RE } from "../../shared/http/validation";
import type { RouteDef } from "../../shared/http/route";

/** Most orgs one key may name (a service account uses `"*"`). */
export const MAX_KEY_ORGS = 1000;

const issueBody = z
  .object({
    userId: z
      .string()
      .regex(USER_ID_RE, "1-128 characters of A-Z a-z 0-9 _ . : @ -"),
    orgIds: z.union([
      z.literal("*"),
      z
        .array(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
        .min(1)
        .max(MAX_KEY_ORGS),
    ]),
    label: z.string().max(200).optional(),
  })
  .strict();

/**
 * API keys of the domain endpoints (admin token): issue one (its secret is
 * in that answer only), list them (never a secret), revoke one. Keys live
 * on the main cluster's primary as a digest (backend/shared/auth/key_store.ts).
 */
export function keyRoutes(keys: ApiKeyStore): RouteDef[] {
  return [
    {
      method: "POST",
      path: "/v1/system/database/api-keys",
      endpoint: "database.issueApiKey",
      admin: true,
      successStatus: 201,
      handle: async ({ body, actor }) => {
        const b = parseBody(issueBody, body);
        return keys.issue(
          {
            userId: b.userId,
            orgIds:
              b.orgIds === "*"
                ? "all"
                : [...new Set(b.orgIds)].sort((x, y) => x - y),
            ...(b.label !== undefined ? { label: b.label } : {}),
          },
          actor ?? null,
        );
      },
    },
    {
      method: "GET",
      path: "/v1/system/database/api-keys",
      endpoint: "database.listApiKeys",
      admin: true,
      handle: async () => ({ keys: await keys.list() }),
    },
    {
      method: "DELETE",
      path: "/v1/system/database/api-keys/:id",
      endpoint: "database.revokeApiKey",
      admin: true,
      handle: async ({ params, actor }) => {
        const id = params.id ?? "";
        if (!/^[0-9a-f]{16}$/.test(id))
          throw new InvalidArgumentError(
            "id",
            "16 hex digits (the key's id, not the key)",
          );
        return keys.revoke(id, actor ?? null);
      },
    },
  ];
}

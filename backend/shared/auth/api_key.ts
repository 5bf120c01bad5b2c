import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { bearerOf } from "../http/admin_auth";

/**
 * API keys of the domain endpoints: `rrk_<id>_<secret>`, where `id` (16 hex
 * digits) names the key's row and `secret` (32 base64url characters, 192
 * random bits) is known only to its holder. The store keeps a SHA-256
 * digest of the secret: with that much entropy a fast hash is enough (no
 * dictionary to try), and a request pays microseconds, not a KDF.
 */

const KEY_RE = /^rrk_([0-9a-f]{16})_([A-Za-z0-9_-]{32})$/;

/** A key as the caller presents it, split. */
export interface PresentedKey {
  readonly id: string;
  readonly secret: string;
}

/** A freshly minted key: `key` is shown once and never stored. */
export interface MintedKey extends PresentedKey {
  readonly key: string;
  readonly secretHash: Buffer;
}

/** A new random key. */
export function mintApiKey(): MintedKey {
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(24).toString("base64url");
  return { id, secret, key: `rrk_${id}_${secret}`, secretHash: digest(secret) };
}

/**
 * The key in `Authorization: Bearer rrk_...`, or null when the header is
 * absent or holds anything else (an admin or monitoring token, a malformed
 * key): the caller is then simply not authenticated by a key.
 */
export function presentedKey(
  authorization: string | undefined,
): PresentedKey | null {
  const token = bearerOf(authorization);
  if (token === null) return null;
  const k = KEY_RE.exec(token);
  return k === null ? null : { id: k[1]!, secret: k[2]! };
}

/** Whether `secret` is the one whose digest is `stored`, in constant time. */
export function secretMatches(secret: string, stored: Buffer): boolean {
  const d = digest(secret);
  return stored.length === d.length && timingSafeEqual(d, stored);
}

function digest(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

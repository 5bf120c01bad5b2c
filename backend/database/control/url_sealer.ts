import { InvalidArgumentError, type Logger } from "../router/index";
import { parseEntries, type ControlEntry } from "./control_state";
import type { StoredRow } from "./control_store";
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  randomBytes,
} from "node:crypto";

const PREFIX = "sealed:v1:";

/** The id of a key as it appears in a sealed text: not the key, a hash prefix of it. */
function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/** A key from its setting: base64 (or base64url) of exactly 32 bytes. */
export function parseUrlKey(text: string): Buffer | null {
  const key = Buffer.from(text.trim(), "base64");
  return key.length === 32 ? key : null;
}

/**
 * Seals the replica URLs the fleet control plane stores on the primary
 * (and so, by replication, on every replica, in WAL archives and backups):
 * AES-256-GCM under STORED_URL_KEY, a fresh 12-byte IV per URL, the key's
 * id in front so a rotated-out key (STORED_URL_OLD_KEYS) still opens what
 * it sealed. A tampered text does not open.
 */
export class UrlSealer {
  private readonly keys: Map<string, Buffer>;

  constructor(
    private readonly current: Buffer | null,
    old: readonly Buffer[] = [],
  ) {
    this.keys = new Map(
      [...(current === null ? [] : [current]), ...old].map((k) => [
        keyId(k),
        k,
      ]),
    );
  }

  /** From the settings' base64 texts (already validated). */
  static fromSettings(
    current: string | null,
    old: readonly string[],
  ): UrlSealer {
    return new UrlSealer(
      current === null ? null : parseUrlKey(current),
      old.map(parseUrlKey).filter((k): k is Buffer => k !== null),
    );
  }

  /** A key to seal with is configured. */
  get canSeal(): boolean {
    return this.current !== null;
  }

  /** `url` sealed under the current key. @throws {Error} without one. */
  seal(url: string): string {
    if (this.current === null)
      throw new Error("no STORED_URL_KEY to seal with");
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.current, iv);
    const body = Buffer.concat([cipher.update(url, "utf8"), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), body].map((b) =>
      b.toString("base64url"),
    );
    return `${PREFIX}${keyId(this.current)}:${parts.join(":")}`;
  }

  /**
   * The URL in `stored`: opened when sealed; as is when stored in clear by
   * an older version.
   * @throws {Error} when it was sealed with a key this instance lacks, or
   *   was altered (the message names neither the key nor the URL).
   */
  open(stored: string): string {
    if (!stored.startsWith(PREFIX)) return stored;
    const [id, iv, tag, body] = stored.slice(PREFIX.length).split(":");
    const key = this.keys.get(id ?? "");
    if (
      key === undefined ||
      iv === undefined ||
      tag === undefined ||
      body === undefined
    )
      throw new Error(
        "sealed with a key this instance does not have (set STORED_URL_KEY, or the old key in STORED_URL_OLD_KEYS)",
      );
    try {
      const authTag = Buffer.from(tag, "base64url");
      if (authTag.length !== 16) throw new Error("short tag");
      const decipher = createDecipheriv(
        "aes-256-gcm",
        key,
        Buffer.from(iv, "base64url"),
        { authTagLength: 16 },
      );
      decipher.setAuthTag(authTag);
      return Buffer.concat([
        decipher.update(Buffer.from(body, "base64url")),
        decipher.final(),
      ]).toString("utf8");
    } catch {
      throw new Error("the sealed URL does not open: altered or truncated");
    }
  }
}

/**
 * The connection string a run-time replica is stored with: sealed when the
 * fleet stores it on the primary; as is in `local` mode (kept in this
 * process's memory only).
 * @throws {InvalidArgumentError} naming STORED_URL_KEY when the fleet stores it and no key is set.
 */
export function urlToStore(
  sealer: UrlSealer,
  mode: "database" | "local",
  url: string,
): string {
  if (mode === "local") return url;
  if (!sealer.canSeal)
    throw new InvalidArgumentError(
      "connectionString",
      "adding a replica at run time needs STORED_URL_KEY (32 bytes, base64: openssl rand -base64 32, the same on every instance): its URL is stored on the primary, sealed",
    );
  return sealer.seal(url);
}

/**
 * The stored rows as checked entries, their replica URLs opened; a row
 * that does not open or does not parse is left out, and logged.
 */
export function storedEntries(
  sealer: UrlSealer,
  rows: readonly StoredRow[],
  logger: Logger,
): ControlEntry[] {
  const skipped = (key: string, reason: string) =>
    logger.warn("fleet control: stored setting skipped", { key, reason });
  const out: StoredRow[] = [];
  for (const row of rows) {
    if (row.connectionString === null) {
      out.push(row);
      continue;
    }
    try {
      out.push({ ...row, connectionString: sealer.open(row.connectionString) });
    } catch (err) {
      skipped(row.key.slice(0, 100), (err as Error).message);
    }
  }
  return parseEntries(out, skipped);
}

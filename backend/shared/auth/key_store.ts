import { timingSafeEqual } from "node:crypto";
import {
  type DatabaseRouter,
  type Logger,
  NotFoundError,
  type QueryApi,
  toRouterError,
} from "../../database/router/index";
import { mintApiKey, presentedKey, secretMatches } from "./api_key";
import type { Caller } from "./caller";

/** A key as the admin API shows it: never its secret. */
export interface KeyInfo {
  readonly id: string;
  readonly userId: string;
  readonly orgIds: readonly number[] | "all";
  readonly label: string;
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly revokedAt: string | null;
}

/** A key just issued: `key` is in this answer and nowhere else, ever. */
export interface IssuedKey extends KeyInfo {
  readonly key: string;
}

/** What a key is issued for. */
export interface KeyGrant {
  readonly userId: string;
  readonly orgIds: readonly number[] | "all";
  readonly label?: string;
}

interface Row {
  id: string;
  secret_hash: Buffer;
  user_id: string;
  org_ids: string[] | null;
  label: string;
  created_by: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

/** A cached lookup: the key's digest and grant, or null for "no such active key". */
interface Cached {
  readonly until: number;
  readonly key: {
    readonly secretHash: Buffer;
    readonly caller: Caller;
    /**
     * The secret once it matched the digest: later requests compare with it
     * in constant time (~0.3 µs) instead of hashing again (~2.5 µs with
     * node:crypto's createHash). Kept only as long as the lookup.
     */
    verified?: Buffer;
  } | null;
}

/**
 * Most lookups kept per process, each kind on its own (the oldest go
 * first): ids that name no active key cannot push real keys out.
 */
const MAX_CACHED = 10_000;

/** The label of the key `npm start` prints for its local cluster. */
export const DEVELOPMENT_LABEL = "development (npm start)";

/**
 * API keys, kept in the main cluster's primary (`api_keys`, migration 4)
 * as a SHA-256 digest of their secret beside the user and orgs they grant.
 *
 * Each instance remembers a lookup for `cacheTtlMs`, so a request pays a
 * map lookup and a hash, not a round trip. A revoked key stops working at
 * once on the instance that revoked it and within `cacheTtlMs` on every
 * other. Lookups go to the primary (a replica could still show a key as
 * active a moment after its revocation); while the primary is unreachable
 * they go to a replica, so reads keep working through a primary outage.
 */
export class ApiKeyStore {
  /** Active keys looked up. */
  private readonly known = new Map<string, Cached>();
  /** Ids that named no active key when looked up. */
  private readonly unknown = new Map<string, Cached>();
  /** One lookup per id at a time: the requests that miss together share it. */
  private readonly inFlight = new Map<string, Promise<Cached>>();
  /** Bumped by every revocation: a lookup that spans one is not kept. */
  private revocations = 0;

  constructor(
    private readonly router: DatabaseRouter,
    private readonly options: {
      readonly cacheTtlMs: number;
      readonly logger: Logger;
      readonly now?: () => number;
    },
  ) {}

  /**
   * The caller a `Authorization: Bearer rrk_...` header establishes, or
   * null when it holds no key, an unknown key, a revoked key or a wrong
   * secret (all alike, to the caller).
   *
   * @throws {RouterError} `unavailable` when no node could be asked.
   */
  async authenticate(
    authorization: string | undefined,
  ): Promise<Caller | null> {
    const presented = presentedKey(authorization);
    if (presented === null) return null;
    const { id } = presented;
    let cached = this.known.get(id) ?? this.unknown.get(id);
    if (cached === undefined || cached.until <= this.now()) {
      let loading = this.inFlight.get(id);
      if (loading === undefined) {
        loading = this.lookUp(id);
        this.inFlight.set(id, loading);
        const done = () => {
          if (this.inFlight.get(id) === loading) this.inFlight.delete(id);
        };
        void loading.then(done, done);
      }
      cached = await loading;
    }
    const key = cached.key;
    if (key === null) return null;
    const given = Buffer.from(presented.secret, "utf8");
    if (key.verified !== undefined && timingSafeEqual(given, key.verified))
      return key.caller;
    if (!secretMatches(presented.secret, key.secretHash)) return null;
    key.verified = given;
    return key.caller;
  }

  /** Issues a key; its secret is in the answer only. */
  async issue(grant: KeyGrant, actor: string | null): Promise<IssuedKey> {
    const minted = mintApiKey();
    const row = await this.router.getWriteConnection().queryRow<Row>`
      INSERT INTO api_keys (id, secret_hash, user_id, org_ids, label, created_by)
      VALUES (${minted.id}, ${minted.secretHash}, ${grant.userId},
              ${grant.orgIds === "all" ? null : grant.orgIds.map(String)}::bigint[],
              ${grant.label ?? ""}, ${actor})
      RETURNING *`;
    this.options.logger.info("api key issued", {
      id: minted.id,
      userId: grant.userId,
      by: actor,
    });
    return { ...info(row!), key: minted.key };
  }

  /**
   * Revokes a key: it stops working here at once, elsewhere within the
   * cache lifetime.
   *
   * @throws {NotFoundError} when no key has that id.
   */
  async revoke(id: string, actor: string | null): Promise<KeyInfo> {
    let row: Row | null;
    try {
      row = await this.router.getWriteConnection().queryRow<Row>`
        UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
        WHERE id = ${id} RETURNING *`;
    } finally {
      // Even when the answer was lost: the UPDATE may have committed.
      this.revocations++;
      this.forget(id);
    }
    if (row === null) throw new NotFoundError(`no API key ${id}`);
    this.options.logger.info("api key revoked", { id, by: actor });
    return info(row);
  }

  /** Every key, newest first, without secrets. */
  async list(): Promise<KeyInfo[]> {
    const rows = await this.router.getWriteConnection().queryAll<Row>`
      SELECT * FROM api_keys ORDER BY created_at DESC, id LIMIT 1000`;
    return rows.map(info);
  }

  /**
   * The key `npm start` prints for its own local cluster: the developer,
   * every org. Revokes the one it printed before.
   */
  async issueDevelopmentKey(): Promise<IssuedKey> {
    await this.router.getWriteConnection().exec`
      UPDATE api_keys SET revoked_at = now()
      WHERE label = ${DEVELOPMENT_LABEL} AND revoked_at IS NULL`;
    return this.issue(
      { userId: "developer", orgIds: "all", label: DEVELOPMENT_LABEL },
      "npm start",
    );
  }

  private async load(id: string): Promise<Cached["key"]> {
    const lookup = (conn: QueryApi) =>
      conn.queryRow<Row>`
        SELECT * FROM api_keys WHERE id = ${id} AND revoked_at IS NULL`;
    let row: Row | null;
    try {
      row = await lookup(this.router.getWriteConnection());
    } catch (err) {
      if (toRouterError(err)?.code !== "unavailable") throw err;
      // The primary is down: a replica's copy (perhaps a moment behind).
      row = await lookup(
        this.router.getReadConnection({ consistency: { level: "eventual" } }),
      );
    }
    if (row === null) return null;
    return {
      secretHash: row.secret_hash,
      caller: { userId: row.user_id, orgs: orgsOf(row) },
    };
  }

  /**
   * Looks `id` up and remembers the answer, unless a key was revoked
   * meanwhile: the lookup may have read the row before the revocation
   * committed, so it is made again (the answer is then not stale).
   */
  private async lookUp(id: string): Promise<Cached> {
    for (let attempt = 1; ; attempt++) {
      const before = this.revocations;
      const key = await this.load(id);
      const entry = { until: this.now() + this.options.cacheTtlMs, key };
      if (this.revocations !== before) {
        // Revocations still coming: answer this once, keep nothing.
        if (attempt >= 3) return { ...entry, until: 0 };
        continue;
      }
      this.forget(id);
      const into = key === null ? this.unknown : this.known;
      if (into.size >= MAX_CACHED) {
        const oldest = into.keys().next();
        if (oldest.done !== true) into.delete(oldest.value);
      }
      into.set(id, entry);
      return entry;
    }
  }

  private forget(id: string): void {
    this.known.delete(id);
    this.unknown.delete(id);
    this.inFlight.delete(id);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

function orgsOf(row: Row): readonly number[] | "all" {
  return row.org_ids === null ? "all" : row.org_ids.map(Number);
}

function info(row: Row): KeyInfo {
  return {
    id: row.id,
    userId: row.user_id,
    orgIds: orgsOf(row),
    label: row.label,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    revokedAt: row.revoked_at === null ? null : row.revoked_at.toISOString(),
  };
}

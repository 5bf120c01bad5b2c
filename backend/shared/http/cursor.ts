import {
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { z } from "zod";
import { InvalidArgumentError } from "../../database/router/index";

/** Longest cursor accepted; real ones are about 250 characters. */
export const MAX_CURSOR_LENGTH = 512;

/** Page size of a keyset list when `limit` is absent. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest `limit` a keyset list request may ask for. */
export const MAX_PAGE_SIZE = 500;

/** Shortest `CURSOR_SECRET` accepted. */
export const MIN_SECRET_LENGTH = 16;

/** What a cursor is valid for: one org, one kind of list, one set of filters. */
export interface CursorScope {
  readonly orgId: number;
  /**
   * The list the cursor pages through (`revenues`, `expenses`, `invoices`):
   * lower-case letters, digits and `_`, at most 32 characters.
   */
  readonly kind: string;
  /** {@link filterHash} of the list request's filters. */
  readonly filterHash: string;
  /** The filters the hash covers, named in the error message; default `from, to, status` (finance). */
  readonly filterNames?: string;
}

/**
 * Where the next page starts: the last row of the previous one, in a list
 * ordered by `(timestamp, id)`.
 */
export interface CursorPosition {
  /**
   * The ordering timestamp (finance: `occurredAt`, invoices: `issuedAt`)
   * exactly as Postgres returned it (microseconds, UTC).
   */
  readonly occurredAt: string;
  readonly id: string;
}

const PAYLOAD = z.strictObject({
  v: z.literal(1),
  o: z.number().int().nonnegative(),
  k: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/),
  t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  i: z.string().regex(/^\d{1,19}$/),
  f: z.string().max(64),
});

const SHAPE = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

// HMAC keys are domain-separated so the secret can be shared with other uses.
// The name predates other lists; changing it would void every issued cursor.
const DOMAIN = "finance-cursor:";

let processSecret: Buffer | undefined;

/**
 * Opaque, tamper-checked page cursors:
 * `base64url(JSON {v:1, o:orgId, k:kind, t:occurredAt, i:id, f:filterHash})`
 * `.` `base64url(HMAC-SHA256(secret, payload part))`.
 *
 * The payload is readable by clients but cannot be altered: a cursor only
 * works for the org, kind and filters it was issued for.
 */
export class CursorCodec {
  private readonly key: Buffer;

  /** @param secret at least {@link MIN_SECRET_LENGTH} characters (or bytes). */
  constructor(secret: string | Buffer) {
    if (secret.length < MIN_SECRET_LENGTH) {
      throw new Error(
        `cursor secret must be at least ${MIN_SECRET_LENGTH} characters`,
      );
    }
    this.key = Buffer.from(secret);
  }

  /**
   * A codec keyed by `CURSOR_SECRET` (the setting's parsed value, null when
   * unset). Unset, 32 random bytes generated once per process are used
   * instead: cursors then stop working after a restart and across instances
   * behind a load balancer, so set `CURSOR_SECRET` in production.
   * @throws {Error} naming `CURSOR_SECRET` when it is shorter than 16 characters.
   */
  static fromSetting(cursorSecret: string | null): CursorCodec {
    return CursorCodec.keyedBy(cursorSecret ?? undefined, "CURSOR_SECRET");
  }

  /**
   * Under Encore: keyed by the `CursorSecret` secret when it is set, else
   * as {@link fromSetting}. Every instance must share it, or a cursor issued
   * by one instance is refused by the next.
   * @throws {Error} naming the secret (or variable) when it is shorter than 16 characters.
   */
  static fromSecretOrSetting(
    secretValue: string,
    cursorSecret: string | null,
  ): CursorCodec {
    return secretValue !== ""
      ? CursorCodec.keyedBy(secretValue, "CursorSecret (secret)")
      : CursorCodec.fromSetting(cursorSecret);
  }

  private static keyedBy(
    secret: string | undefined,
    name: string,
  ): CursorCodec {
    if (secret !== undefined && secret !== "") {
      if (secret.length < MIN_SECRET_LENGTH) {
        throw new Error(
          `${name}: must be at least ${MIN_SECRET_LENGTH} characters (got ${secret.length})`,
        );
      }
      return new CursorCodec(secret);
    }
    processSecret ??= randomBytes(32);
    return new CursorCodec(processSecret);
  }

  /** The cursor of `position` within `scope`. */
  encode(scope: CursorScope, position: CursorPosition): string {
    const payload = Buffer.from(
      JSON.stringify({
        v: 1,
        o: scope.orgId,
        k: scope.kind,
        t: position.occurredAt,
        i: position.id,
        f: scope.filterHash,
      }),
    ).toString("base64url");
    return `${payload}.${this.sign(payload).toString("base64url")}`;
  }

  /**
   * The position in a cursor issued by {@link encode} for the same scope.
   * @throws {InvalidArgumentError} (field `cursor`) when it is too long,
   *   malformed, not signed with this secret, of another version, or issued
   *   for another org, kind of list or set of filters.
   */
  decode(cursor: string, scope: CursorScope): CursorPosition {
    if (cursor.length > MAX_CURSOR_LENGTH) {
      throw new InvalidArgumentError(
        "cursor",
        `must be at most ${MAX_CURSOR_LENGTH} characters`,
      );
    }
    const m = SHAPE.exec(cursor);
    if (!m)
      throw new InvalidArgumentError(
        "cursor",
        "is malformed; pass nextCursor from a previous page unchanged",
      );
    const [, payloadPart, signaturePart] = m as unknown as [
      string,
      string,
      string,
    ];
    // Compared as text: base64url decoding ignores the last character's spare
    // bits, so comparing decoded bytes would accept a few altered cursors.
    const expected = Buffer.from(this.sign(payloadPart).toString("base64url"));
    const given = Buffer.from(signaturePart);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidArgumentError(
        "cursor",
        "is not valid (altered, or issued by another server)",
      );
    }
    const parsed = PAYLOAD.safeParse(
      parseJson(Buffer.from(payloadPart, "base64url").toString("utf8")),
    );
    if (!parsed.success)
      throw new InvalidArgumentError(
        "cursor",
        "has an unsupported version or content",
      );
    const p = parsed.data;
    if (p.o !== scope.orgId)
      throw new InvalidArgumentError("cursor", "was issued for another org");
    if (p.k !== scope.kind)
      throw new InvalidArgumentError(
        "cursor",
        `was issued for ${p.k}, not ${scope.kind}`,
      );
    if (p.f !== scope.filterHash) {
      throw new InvalidArgumentError(
        "cursor",
        `was issued for other filters (${scope.filterNames ?? "from, to, status"}); start again without a cursor`,
      );
    }
    return { occurredAt: p.t, id: p.i };
  }

  private sign(payloadPart: string): Buffer {
    return createHmac("sha256", this.key)
      .update(DOMAIN)
      .update(payloadPart)
      .digest();
  }
}

/**
 * A short, stable digest of a list request's filters, stored in its cursors
 * so a cursor cannot be replayed against a different query. `limit` is not
 * part of it: page size may change between pages.
 */
export function filterHash(filters: {
  from?: string;
  to?: string;
  status?: string;
}): string {
  const canonical = JSON.stringify([
    filters.from ?? null,
    filters.to ?? null,
    filters.status ?? null,
  ]);
  return createHash("sha256")
    .update(canonical)
    .digest("base64url")
    .slice(0, 16);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

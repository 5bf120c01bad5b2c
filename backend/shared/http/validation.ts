import { z } from "zod";
import { InvalidArgumentError } from "../../database/router/index";

/**
 * Request validation shared by every handler. Each parser takes the raw value
 * (path parameter, query string value or body field) and either returns it
 * converted or throws {@link InvalidArgumentError} naming the field, so bad
 * input never reaches SQL and always becomes a 400 `invalid_argument`.
 */

/** Largest value of a Postgres `bigint`. */
export const INT8_MAX = 9223372036854775807n;

/**
 * An org id from a path parameter or query string: decimal digits only, at
 * most `Number.MAX_SAFE_INTEGER` (org ids travel as JSON numbers).
 * @throws {InvalidArgumentError} otherwise.
 */
export function parseOrgId(value: unknown, field = "orgId"): number {
  if (typeof value !== "string" || !/^\d{1,16}$/.test(value)) {
    throw new InvalidArgumentError(field, "must be a non-negative integer");
  }
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(
      field,
      `must be at most ${Number.MAX_SAFE_INTEGER}`,
    );
  }
  return n;
}

/** Bounds (inclusive) and default of {@link parseIntParam}. */
export interface IntRange {
  readonly min: number;
  readonly max: number;
  /** Used when the value is absent; without it an absent value is an error. */
  readonly default?: number;
}

/**
 * An integer query/path parameter within `[min, max]`.
 * @throws {InvalidArgumentError} when absent (and no default), not an integer, or out of range.
 */
export function parseIntParam(
  field: string,
  value: string | undefined,
  range: IntRange,
): number {
  if (value === undefined) {
    if (range.default !== undefined) return range.default;
    throw new InvalidArgumentError(field, "is required");
  }
  const n = /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new InvalidArgumentError(
      field,
      `must be an integer from ${range.min} to ${range.max}`,
    );
  }
  return n;
}

/**
 * A bigint row id (path parameter): decimal digits only, within `bigint`.
 * Returned as a canonical decimal string (leading zeros removed).
 * @throws {InvalidArgumentError} otherwise.
 */
export function parseId(value: unknown, field = "id"): string {
  if (
    typeof value !== "string" ||
    !/^\d{1,19}$/.test(value) ||
    BigInt(value) > INT8_MAX
  ) {
    throw new InvalidArgumentError(field, "must be a non-negative integer id");
  }
  return BigInt(value).toString();
}

/**
 * One of a fixed set of strings.
 * @throws {InvalidArgumentError} listing the allowed values.
 */
export function parseEnum<T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (
    typeof value !== "string" ||
    !(allowed as readonly string[]).includes(value)
  ) {
    throw new InvalidArgumentError(
      field,
      `must be one of ${allowed.join(", ")}`,
    );
  }
  return value as T;
}

/** A validated point in time. */
export interface Instant {
  /**
   * Canonical ISO-8601 text that Postgres parses as `timestamptz` exactly
   * (fractions up to nanoseconds are kept; Postgres rounds to microseconds).
   * A date-only input becomes midnight UTC.
   */
  readonly text: string;
  /** Milliseconds since the epoch (for comparisons; loses sub-millisecond digits). */
  readonly epochMs: number;
}

const DATE_TIME_MESSAGE =
  "not an ISO-8601 date-time with a time zone, like 2024-05-01T12:00:00Z";
const DATE_MESSAGE =
  "not an ISO-8601 date (2024-05-01) or date-time with a time zone (2024-05-01T12:00:00Z)";
const RANGE_MESSAGE = "must be between the years 1000 and 9999 (UTC)";

const INSTANT_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2})))?$/;

/**
 * Parses an ISO-8601 date-time with `Z` or `±HH:MM` (seconds and fraction
 * optional) or, when `allowDateOnly`, a calendar date `YYYY-MM-DD` (midnight
 * UTC). Rejects dates that do not exist (`2024-02-30`), words (`yesterday`),
 * times without a zone (ambiguous) and years outside 1000..9999.
 * @throws {InvalidArgumentError} naming `field`.
 */
export function parseDate(
  field: string,
  value: unknown,
  options: { allowDateOnly?: boolean } = {},
): Instant {
  const allowDateOnly = options.allowDateOnly ?? true;
  const result = checkInstant(value, allowDateOnly);
  if (typeof result === "string") throw new InvalidArgumentError(field, result);
  return result;
}

/** The instant, or the message explaining why `value` is not one. */
function checkInstant(
  value: unknown,
  allowDateOnly: boolean,
): Instant | string {
  const invalid = allowDateOnly ? DATE_MESSAGE : DATE_TIME_MESSAGE;
  const m =
    typeof value === "string" && value.length <= 40
      ? INSTANT_RE.exec(value)
      : null;
  if (!m) return invalid;
  const [, y, mo, d, hh, mi, ss, frac, z, sign, oh, om] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month))
    return invalid;
  if (hh === undefined) {
    if (!allowDateOnly) return invalid;
    const epochMs = Date.UTC(year, month - 1, day);
    if (year < 1000) return RANGE_MESSAGE;
    return { text: `${y}-${mo}-${d}T00:00:00Z`, epochMs };
  }
  const hour = Number(hh);
  const minute = Number(mi);
  const second = Number(ss ?? "0");
  if (hour > 23 || minute > 59 || second > 59) return invalid;
  let offsetMin = 0;
  if (z === undefined) {
    const offH = Number(oh);
    const offM = Number(om);
    if (offH > 14 || offM > 59) return invalid;
    offsetMin = (sign === "-" ? -1 : 1) * (offH * 60 + offM);
  }
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, "0"));
  const epochMs =
    Date.UTC(year, month - 1, day, hour, minute, second, ms) -
    offsetMin * 60_000;
  const utcYear = new Date(epochMs).getUTCFullYear();
  if (year < 1000 || utcYear < 1000 || utcYear > 9999) return RANGE_MESSAGE;
  const zone = z ?? `${sign}${oh}:${om}`;
  // PostgreSQL keeps microseconds and would round the rest (possibly into
  // year 10000); truncate to what it stores instead.
  const micros = frac === undefined ? "" : "." + frac.slice(0, 6);
  const text = `${y}-${mo}-${d}T${hh}:${mi}:${ss ?? "00"}${micros}${zone}`;
  return { text, epochMs };
}

function daysInMonth(year: number, month: number): number {
  if (month === 2)
    return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * A zod schema for a body field holding a date-time (or, with
 * `allowDateOnly`, a date), producing an {@link Instant} with the same
 * messages as {@link parseDate}.
 */
export function instantSchema(options: { allowDateOnly?: boolean } = {}) {
  const allowDateOnly = options.allowDateOnly ?? false;
  return z.unknown().transform((value, ctx): Instant => {
    if (value === undefined) {
      ctx.addIssue({ code: "custom", message: "is required" });
      return z.NEVER;
    }
    const result = checkInstant(value, allowDateOnly);
    if (typeof result === "string") {
      ctx.addIssue({ code: "custom", message: result });
      return z.NEVER;
    }
    return result;
  });
}

/**
 * A zod schema for a free-text body field stored in a `text` column whose
 * CHECK bounds `length()`: at most `max` characters as PostgreSQL counts
 * them (code points, so an emoji is one, not two UTF-16 units), and no NUL,
 * which `text` cannot hold.
 */
export function textSchema(max: number) {
  return z
    .string({
      error: (iss) =>
        iss.input === undefined ? "is required" : "must be a string",
    })
    .refine((s) => codePoints(s) <= max, {
      error: `must be at most ${max} characters`,
    })
    .refine((s) => !s.includes("\u0000"), {
      error: "must not contain NUL characters",
    });
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Validates a JSON body with a zod object schema (use `z.strictObject` so
 * unknown fields are reported). The first problem becomes an
 * {@link InvalidArgumentError}: unknown fields first (a misspelt field is
 * the likeliest cause of other errors) as `body: unknown field(s) "a", "b"`,
 * else the failing field's path and message (`body` for the body itself).
 * @throws {InvalidArgumentError}
 */
export function parseBody<S extends z.ZodType>(
  schema: S,
  body: unknown,
): z.output<S> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new InvalidArgumentError("body", "must be a JSON object");
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const unknown = issues.find((i) => i.code === "unrecognized_keys");
  if (unknown !== undefined && unknown.code === "unrecognized_keys") {
    const names = unknown.keys
      .slice(0, 10)
      .map((k) => JSON.stringify(k.slice(0, 64)));
    throw new InvalidArgumentError(
      "body",
      `unknown field(s) ${names.join(", ")}`,
    );
  }
  const first = issues[0];
  const field =
    first === undefined || first.path.length === 0
      ? "body"
      : first.path.map(String).join(".");
  throw new InvalidArgumentError(field, first?.message ?? "is invalid");
}

/** A user id an API key is issued to (per-user caps count it): 1-128 characters. */
export const USER_ID_RE = /^[A-Za-z0-9_.:@-]{1,128}$/;

/**
 * The optional X-Actor header of an admin request: who is acting (a name or
 * an email), recorded in the fleet's audit trail. The admin token is shared,
 * so this is what the caller says, not a verified identity.
 * @throws {InvalidArgumentError} naming X-Actor when it is malformed.
 */
export function parseActorHeader(
  value: string | undefined,
): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[A-Za-z0-9_.:@+ -]{1,100}$/.test(value))
    throw new InvalidArgumentError(
      "X-Actor",
      "1-100 characters of A-Z a-z 0-9 _ . : @ + - and spaces",
    );
  return value;
}

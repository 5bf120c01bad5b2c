import { z } from "zod";
import { parseDurationMs } from "../support/duration";

/*
 * The parsers of the settings table (settings.ts): each reads one
 * environment variable's text, gives its default when unset, and
 * range-checks it (cross-variable rules and the connection settings are in
 * load_config.ts and cluster_settings.ts).
 */

const MAX_DURATION_MS = 24 * 3_600_000;

/**
 * A duration: `250ms`, `30s`, `10m`, `1h`; a bare number is milliseconds.
 * `formerlySeconds`: the setting read bare numbers as seconds in earlier versions,
 * so a bare number is refused (naming the fix) rather than read 1000×
 * shorter than meant.
 */
export const duration = (fallback: string, formerlySeconds = false) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = raw ?? fallback;
      if (formerlySeconds && /^\s*\d+(\.\d+)?\s*$/.test(text)) {
        ctx.addIssue({
          code: "custom",
          message: `a bare number is ambiguous here: this setting read it as seconds in earlier versions, and a bare duration is now milliseconds everywhere; write the unit (${text.trim()}s or ${text.trim()}ms)`,
        });
        return z.NEVER;
      }
      const ms = parseDurationMs(text, "ms");
      if (ms !== null && ms > MAX_DURATION_MS) {
        // Node timers and PostgreSQL's statement_timeout cannot hold more than
        // 2^31-1 ms; nothing here needs more than a day.
        ctx.addIssue({
          code: "custom",
          message: `must be at most 24h, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      if (ms === null) {
        ctx.addIssue({
          code: "custom",
          message: `expected a duration like 250ms, 30s, 10m or 1h, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return ms;
    });

export const int = (
  fallback: number | null,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const n = /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({
          code: "custom",
          message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return n;
    });

/** A bearer token: unset or empty = none; else at least 16 characters, never echoed. */
export const bearerToken = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === "") return null;
      if (raw.length < 16) {
        ctx.addIssue({
          code: "custom",
          message: "must be at least 16 characters (value not shown)",
        });
        return z.NEVER;
      }
      return raw;
    });

export const bool = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const v = raw.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(v)) return true;
      if (["false", "0", "no", "off"].includes(v)) return false;
      ctx.addIssue({
        code: "custom",
        message: `expected true or false, got ${JSON.stringify(raw)}`,
      });
      return z.NEVER;
    });

export const fraction = (fallback: number) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return fallback;
      const n = /^\s*(0|1|0?\.\d+|1\.0*)\s*$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 0 && n <= 1)) {
        ctx.addIssue({
          code: "custom",
          message: `expected a fraction from 0 to 1, got ${JSON.stringify(raw)}`,
        });
        return z.NEVER;
      }
      return n;
    });

export const list = z
  .string()
  .optional()
  .transform((raw) =>
    (raw ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );

/** A secret of at least 16 characters (CURSOR_SECRET): unset or empty = none; never echoed. */
export const secretText = bearerToken;

/** A 32-byte key, base64; unset or blank = null; never echoed. */
export const aesKey = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = raw?.trim() ?? "";
      if (text === "") return null;
      if (Buffer.from(text, "base64").length !== 32) {
        ctx.addIssue({
          code: "custom",
          message:
            "must be 32 bytes, base64 (e.g. openssl rand -base64 32; value not shown)",
        });
        return z.NEVER;
      }
      return text;
    });

/** A comma list of 32-byte base64 keys; never echoed. */
export const aesKeyList = () =>
  list.transform((keys, ctx) => {
    if (keys.some((k) => Buffer.from(k, "base64").length !== 32)) {
      ctx.addIssue({
        code: "custom",
        message: "each must be 32 bytes, base64 (values not shown)",
      });
      return z.NEVER;
    }
    return keys;
  });

/** Optional text matching `pattern`, trimmed; unset or blank = undefined. */
export const optionalText = (pattern: RegExp, message: string) =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = raw?.trim() ?? "";
      if (text === "") return undefined;
      if (!pattern.test(text)) {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
      }
      return text;
    });

/** REDIS_URL: a redis:// or rediss:// URL; never echoed. */
export const redisUrl = () =>
  z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw.trim() === "") return null;
      if (!isRedisUrl(raw.trim())) {
        ctx.addIssue({
          code: "custom",
          message: "not a redis:// or rediss:// URL (value not shown)",
        });
        return z.NEVER;
      }
      return raw.trim();
    });

/** True when `text` parses as a redis:// or rediss:// URL with a host. */
export function isRedisUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (
      (u.protocol === "redis:" || u.protocol === "rediss:") && u.hostname !== ""
    );
  } catch {
    return false;
  }
}

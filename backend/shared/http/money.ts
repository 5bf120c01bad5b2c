import { z } from "zod";
import { INT8_MAX } from "./validation";

/*
 * Body-field schemas for money, shared by every domain that stores amounts
 * as integer minor units in a `bigint` column plus an ISO 4217 code in a
 * `char(3)` column (finance, invoices). Use them inside `z.strictObject`
 * with `parseBody`, which turns a failure into a 400 naming the field.
 */

const AMOUNT_MESSAGE =
  `must be an integer from 0 to ${INT8_MAX}: a JSON number (up to ${Number.MAX_SAFE_INTEGER}) ` +
  "or a string of decimal digits";

/**
 * `amountCents`: a non-negative integer within `bigint`, as a safe JSON
 * number or a string of decimal digits (JSON numbers lose precision above
 * 2^53). Produces a canonical decimal string to bind as `$n::bigint`.
 */
export const amountCentsSchema = z.unknown().transform((value, ctx): string => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0)
    return String(value);
  if (
    typeof value === "string" &&
    /^\d{1,19}$/.test(value) &&
    BigInt(value) <= INT8_MAX
  ) {
    return BigInt(value).toString();
  }
  ctx.addIssue({
    code: "custom",
    message: value === undefined ? "is required" : AMOUNT_MESSAGE,
  });
  return z.NEVER;
});

/** `currency`: a three-letter upper-case ISO 4217 code (required). */
export const currencySchema = z
  .string({
    error: (iss) =>
      iss.input === undefined ? "is required" : "must be a string",
  })
  .regex(/^[A-Z]{3}$/, {
    error: "must be a three-letter upper-case ISO 4217 code, like USD",
  });

/**
 * Small helpers for HTTP-level integration tests of the standalone service:
 * error-shape assertions, unique org ids, and a request body builder.
 */
import { randomInt } from "node:crypto";
import { expect } from "vitest";
import type { HttpResult } from "./app";

/** Node names a replica read may report in `X-Served-By`. */
export const REPLICA_NAMES: readonly string[] = ["replica_1", "replica_2"];

/** The shape of an `X-Consistency-Token` the standalone server mints for the main cluster. */
export const TOKEN_PATTERN = /^main:[0-9A-F]+\/[0-9A-F]+$/;

/**
 * A block of `count` consecutive org ids no other test file uses: the shared
 * cluster keeps rows of every file of a run, so each file starts at a random
 * base far from the small ids other suites pick.
 */
export function orgIdBlock(count: number): number[] {
  const base = randomInt(100_000_000, 2_000_000_000);
  return Array.from({ length: count }, (_, i) => base + i);
}

/** A valid create body; override any field. */
export function newItem(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    amountCents: 1250,
    currency: "EUR",
    occurredAt: "2026-11-23T09:00:00Z",
    ...overrides,
  };
}

/** A valid invoice create body; override any field (undefined removes it). */
export function newInvoice(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    customer: "ACME GmbH",
    amountCents: 125000,
    currency: "EUR",
    issuedAt: "2026-11-23",
    ...overrides,
  };
}

/**
 * Asserts a `{ code, message }` error with the given status and code, whose
 * message names `field` (when given). Returns the message for further checks.
 */
export function expectError(
  res: HttpResult,
  status: number,
  code: string,
  field?: string,
): string {
  const context = `${status} ${code} expected, got ${res.status} ${JSON.stringify(res.body)}`;
  expect(res.status, context).toBe(status);
  expect(res.body, context).toMatchObject({
    code,
    message: expect.any(String),
  });
  const message = (res.body as { message: string }).message;
  if (field !== undefined) expect(message, context).toContain(field);
  return message;
}

/** A 400 `invalid_argument` naming `field`. */
export function expectInvalid(res: HttpResult, field: string): string {
  return expectError(res, 400, "invalid_argument", field);
}

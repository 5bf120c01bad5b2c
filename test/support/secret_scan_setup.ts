/**
 * Vitest setup file (every project): at the end of each test file, nothing
 * the scan of test/support/secret_scan.ts recorded may hold a secret.
 */
import { afterAll, expect } from "vitest";
import { takeScan } from "./secret_scan";

afterAll(() => {
  const { leaks } = takeScan();
  expect(leaks, "a secret in a response or a log line").toEqual([]);
});

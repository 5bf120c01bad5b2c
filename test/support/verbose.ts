/**
 * A passing `npm test` prints vitest's report and nothing else. Tests that
 * measure something (latencies, shares, counts) say what they saw through
 * {@link report}, and the service code they load logs through the router's
 * JSON logger; both appear only with `TEST_VERBOSE=1`:
 *
 *   TEST_VERBOSE=1 npx vitest run test/integration/stall.test.ts
 *
 * The figures with goals live in `npm run bench`; these lines are for
 * looking into one test.
 */

/** True when `TEST_VERBOSE=1`: tests print their measurements and logs. */
export const verbose = process.env.TEST_VERBOSE === "1";

/** Prints a test's measurement line, only with `TEST_VERBOSE=1`. */
export function report(line: string): void {
  if (verbose) console.log(line);
}

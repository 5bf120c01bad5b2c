import { defineConfig } from "vitest/config";

// Three tiers. Unit tests need nothing; integration tests share one local
// primary + 2 replicas started by globalSetup (only when they run). Each
// PostgreSQL server costs memory and CPU, so at most 2 test files run at once.
// The load tests (a frozen replica under 8 readers, both replicas slowed
// alike, 1,000 concurrent clients)
// fill both cores: they run last and alone (sequence.groupOrder), so they do
// not starve the others, and no other file's load is in what they print.
// No test asserts a latency; the figures and their goals are `npm run bench`.
const LOAD_TESTS = [
  "test/integration/stall.test.ts",
  "test/integration/shared_slowness.test.ts",
  "test/integration/overload.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    maxWorkers: 2,
    // Quiet unless TEST_VERBOSE=1 (test/support/verbose.ts); every response
    // and log line of the services under test scanned for secrets
    // (test/support/secret_scan.ts).
    setupFiles: [
      "test/support/quiet_logs.ts",
      "test/support/secret_scan_setup.ts",
    ],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          exclude: LOAD_TESTS,
          globalSetup: ["test/integration/global_setup.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: "load",
          include: LOAD_TESTS,
          globalSetup: ["test/integration/global_setup.ts"],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

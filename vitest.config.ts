import { defineConfig } from "vitest/config";

// Two tiers. Unit tests need nothing; integration tests share one local
// primary + 2 replicas started by globalSetup (only when they run). Each
// PostgreSQL server costs memory and CPU, so at most 2 test files run at once.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/integration/global_setup.ts"],
        },
      },
    ],
  },
});

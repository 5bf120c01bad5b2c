import { defineConfig } from "vitest/config";

// Integration tests share one local primary + replicas started by globalSetup;
// each server costs memory and CPU, so at most 2 test files run at once.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/integration/global_setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2,
  },
});

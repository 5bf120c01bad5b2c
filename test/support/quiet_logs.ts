/**
 * Vitest setup file (every project): the router's default JSON logger
 * writes straight to stderr, where vitest cannot label or hold it, from
 * modules that build their router at load time (the Encore front door's
 * backend/database/encore/service.ts, loaded afresh per app instance by
 * encore_path.test.ts). Unless `TEST_VERBOSE=1`, it logs nothing in the
 * test process (a mock survives `vi.resetModules()`, which an in-place
 * change would not); spawned services keep logging into the pipe their
 * test reads.
 */
import { vi } from "vitest";

vi.mock(
  import("../../backend/database/router/support/logger"),
  async (importOriginal) => {
    const real = await importOriginal();
    const { recordingLogger } = await import("./secret_scan");
    // Whatever it logs is scanned for secrets (secret_scan.ts), shown or not.
    if (process.env.TEST_VERBOSE === "1")
      return { ...real, jsonLogger: recordingLogger(real.jsonLogger) };
    return {
      ...real,
      jsonLogger: recordingLogger({ info() {}, warn() {}, error() {} }),
    };
  },
);

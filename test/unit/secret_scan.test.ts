/** The suite-wide secret scan (test/support/secret_scan.ts) sees what it is meant to see. */
import { describe, expect, it } from "vitest";
import { mintApiKey } from "../../backend/shared/auth/api_key";
import {
  noteSecrets,
  record,
  recordingLogger,
  takeScan,
} from "../support/secret_scan";

describe("the secret scan", () => {
  it("flags an API key, a URL password and a configured secret; not a key in the answer that issues it", () => {
    takeScan();
    const { key } = mintApiKey();
    noteSecrets({ ADMIN_TOKEN: "scan-admin-token-0123456789", PATH: "/bin" });
    record("POST /v1/system/database/api-keys", JSON.stringify({ key }));
    record("GET /v1/x", '{"ok":true}');
    expect(takeScan()).toEqual({ leaks: [], recorded: 2 });
    record("GET /v1/x", JSON.stringify({ key }));
    record("log", "connect postgres://app:hunter2@db:5432/app failed");
    recordingLogger({ info() {}, warn() {}, error() {} }).warn("denied", {
      token: "scan-admin-token-0123456789",
    });
    const { leaks } = takeScan();
    expect(leaks).toHaveLength(3);
    expect(leaks[0]).toContain("an API key");
    expect(leaks[1]).toContain("a connection string with a password");
    expect(leaks[2]).toContain("the secret scan");
    // "/bin" is not a secret setting: never looked for.
    record("GET /v1/x", "/bin");
    expect(takeScan().leaks).toEqual([]);
  });
});

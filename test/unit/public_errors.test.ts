/**
 * Open monitoring shows what kind of error a node, a pending setting or the
 * cache tier last had, never its text: a server's or driver's text can name
 * users, databases, hosts and ports. Token holders see all of it.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { silentLogger } from "../../backend/database/router/support/logger";
import { ManualClock } from "../../backend/database/router/support/clock";
import { publicError } from "../../backend/database/status/public_error";
import { replicaStatus } from "../../backend/database/status/router_status";
import { FakePool } from "./helpers/fake_pool";

describe("publicError", () => {
  const hide = (t: string) => t.replace(/db-\d\.internal/g, "<host>");
  it.each([
    ['28000: role "ghost_user" does not exist', "authentication failed"],
    ["ECONNREFUSED: connect ECONNREFUSED 10.0.0.12:5432", "connection refused"],
    [
      '3D000: database "payroll" does not exist',
      "server error (SQLSTATE 3D000)",
    ],
    ["Connection terminated unexpectedly", "connection lost"],
    // The router's own words stay, with hosts hidden.
    [
      "not in recovery: no replay position",
      "not in recovery: no replay position",
    ],
    ["stalled on db-2.internal", "stalled on <host>"],
  ])("%s -> %s", (text, shown) => {
    expect(publicError(text, hide)).toBe(shown);
  });
});

describe("the status endpoint's last errors", () => {
  it("without the token: the kind of a node's error; with it: the text", async () => {
    const pools = new Map<string, FakePool>();
    const router = new ReplicaRouter(
      loadConfig({
        DATABASE_URL: "postgres://u@primary:5432/app",
        READ_REPLICA_URLS: "postgres://u@r1:5432/app",
        REPLICA_HEALTH_CHECK_INTERVAL: "1h",
        REPLICA_LAG_POLL_INTERVAL: "1h",
      }).router,
      {
        clock: new ManualClock(),
        logger: silentLogger,
        poolFactory: (url) => {
          const host = new URL(url).hostname;
          const pool = new FakePool(host !== "primary");
          pools.set(host, pool);
          return pool;
        },
      },
    );
    await router.start();
    const r1 = pools.get("r1")!;
    r1.down = true;
    r1.downError = Object.assign(
      new Error('role "ghost_user" does not exist'),
      { code: "28000" },
    );
    await router.roles.checkNow();
    const open = replicaStatus(router.roles);
    expect(open.replicas[0]!.lastError).toBe("authentication failed");
    expect(JSON.stringify(open)).not.toContain("ghost_user");
    const full = replicaStatus(router.roles, undefined, { addresses: true });
    expect(full.replicas[0]!.lastError).toContain('role "ghost_user"');
    await router.close();
  });
});

/**
 * Without a token, monitoring texts name no host: the nodes' own hosts (as
 * whole words), IPv4 and IPv6 addresses, and names in connection and
 * certificate errors become `<host>`; times and plain words stay.
 */
import { describe, expect, it } from "vitest";
import { hostHider } from "../../backend/database/status/host_hider";
import type { RouterStatusView } from "../../backend/database/router/roles";

const router = {
  clusters: [
    {
      nodes: [
        { address: "db-2.internal:5432/app" },
        { address: "[fd00::12]:5432/app" },
      ],
    },
  ],
} as unknown as RouterStatusView;
const hide = hostHider(router);

describe("hostHider", () => {
  it.each([
    ["connect ECONNREFUSED 10.0.0.12:5432", "connect ECONNREFUSED <host>"],
    ["connect ECONNREFUSED fd00::12:5432", "connect ECONNREFUSED <host>"],
    ["getaddrinfo ENOTFOUND db-9.internal", "getaddrinfo ENOTFOUND <host>"],
    [
      "unreachable: connect ETIMEDOUT 2001:db8:0:0:0:0:0:1:5432",
      "unreachable: connect ETIMEDOUT <host>",
    ],
    [
      "Hostname/IP does not match certificate's altnames: Host: db-9.internal. is not in the cert's altnames",
      "Hostname/IP does not match certificate's altnames: Host: <host> is not in the cert's altnames",
    ],
    [
      "connection to db-2.internal failed at 12:30:45",
      "connection to <host> failed at 12:30:45",
    ],
    [
      "timeout exceeded when trying to connect",
      "timeout exceeded when trying to connect",
    ],
    [
      "replica_2: healthy → unhealthy (57P01: terminating connection)",
      "replica_2: healthy → unhealthy (57P01: terminating connection)",
    ],
  ])("%s", (text, hidden) => {
    expect(hide(text)).toBe(hidden);
  });

  it("a node's host inside a longer name is left alone (whole words only)", () => {
    expect(hide("db-2.internal-backup")).toBe("db-2.internal-backup");
  });
});

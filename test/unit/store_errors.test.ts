/**
 * The fleet control store's errors reach every caller of /fleet (open
 * monitoring too): they name the kind of failure, never the primary's
 * address or the server's text (those go to the log).
 */
import { describe, expect, it } from "vitest";
import {
  storeCallError,
  unconfirmedCommit,
} from "../../backend/database/control/store_errors";
import { CommitUnconfirmedError } from "../../backend/database/control/control_store";

const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.5:5432"), {
  code: "ECONNREFUSED",
});
const denied = Object.assign(
  new Error('permission denied for table router_control_state (user "router")'),
  { code: "42501" },
);

describe("control store errors", () => {
  it("name the kind of failure, not the address or the server's text", () => {
    const down = storeCallError(refused, "the fleet view is read from it");
    expect(down.unreachable).toBe(true);
    expect(down.error.message).toContain("unavailable (connection refused)");
    const no = storeCallError(denied, "the change was made on no instance");
    expect(no.error.code).toBe("internal");
    expect(no.error.message).toContain("(server error (SQLSTATE 42501))");
    const lost = unconfirmedCommit(new CommitUnconfirmedError(refused));
    for (const e of [down.error, no.error, lost])
      expect(e.message).not.toMatch(
        /10\.0\.0\.5|router_control_state|"router"/,
      );
  });
});

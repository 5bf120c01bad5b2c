/**
 * The read-your-writes flight (nodes/guarded_read.ts) message by message,
 * as pg's client drives a submittable: what each check row, server error
 * and pg's own timeout make of the read. Against a real server in
 * test/integration/guarded_reads.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseLsn } from "../../backend/database/router/lag/lag_tracker";
import {
  GuardedRead,
  ReplayGuardMiss,
} from "../../backend/database/router/nodes/guarded_read";
import { serverError } from "./helpers/fake_wire";

interface Outcome {
  err: Error | null;
  rows: Record<string, unknown>[] | null;
  replayed: bigint | null;
}

/** A connection that records the flight's messages and answers nothing. */
function connection() {
  const sent: string[] = [];
  return {
    sent,
    stream: {},
    parse: (m: { name?: string }) => void sent.push(`parse ${m.name ?? ""}`),
    bind: (m: { statement?: string }) =>
      void sent.push(`bind ${m.statement ?? ""}`),
    describe: () => void sent.push("describe"),
    execute: () => void sent.push("execute"),
    sync: () => void sent.push("sync"),
    sendCopyFail: () => undefined,
  };
}

const TOKEN = parseLsn("0/5000");

function flight(conn = connection()) {
  let outcome: Outcome | null = null;
  let calls = 0;
  const read = new GuardedRead(
    "SELECT n FROM t WHERE id = $1",
    ["1"],
    TOKEN,
    (err, rows, replayed) => {
      calls++;
      outcome = { err, rows, replayed };
    },
  );
  read.submit(conn);
  return {
    read,
    conn,
    check(lsn: string | null, inRecovery = "t", readCommitted = "t") {
      read.handleDataRow({ fields: [lsn, inRecovery, readCommitted] });
      read.handleCommandComplete({ text: "SELECT 1" });
    },
    answerRead() {
      read.handleRowDescription({
        fields: [{ name: "n", dataTypeID: 23, format: "text" }],
      });
      read.handleDataRow({ fields: ["7"] });
      read.handleCommandComplete({ text: "SELECT 1" });
      read.handleReadyForQuery();
    },
    outcome: () => {
      expect(calls).toBe(1);
      return outcome!;
    },
  };
}

const missOf = (o: Outcome) => (o.err as ReplayGuardMiss).reason;

describe("GuardedRead", () => {
  it("sends the prepared check, then the read, before one Sync; the check is prepared once per connection", () => {
    const conn = connection();
    flight(conn);
    expect(conn.sent).toEqual([
      "parse rr_replay_check",
      "bind rr_replay_check",
      "execute",
      "parse ",
      "bind ",
      "describe",
      "execute",
      "sync",
    ]);
    conn.sent.length = 0;
    flight(conn);
    expect(conn.sent[0]).toBe("bind rr_replay_check");
  });

  it("a check at or past the token: the rows, parsed, and the position seen", () => {
    const f = flight();
    f.check("0/5000");
    f.answerRead();
    expect(f.outcome()).toEqual({
      err: null,
      rows: [{ n: 7 }],
      replayed: parseLsn("0/5000"),
    });
  });

  it.each([
    ["behind the token", "0/4FFF", "t", "t", "behind"],
    [
      "a server out of recovery (promoted)",
      "0/6000",
      "f",
      "t",
      "not_in_recovery",
    ],
    ["a session not READ COMMITTED", "0/6000", "t", "f", "isolation"],
    ["no replay position", null, "t", "t", "check_failed"],
  ])(
    "%s: a miss, the rows discarded",
    (_label, lsn, inRecovery, readCommitted, reason) => {
      const f = flight();
      f.check(lsn, inRecovery, readCommitted);
      f.answerRead();
      const o = f.outcome();
      expect(o.err).toBeInstanceOf(ReplayGuardMiss);
      expect(missOf(o)).toBe(reason);
      expect(o.rows).toBeNull();
    },
  );

  it("the read's server error on a replica found behind is a miss (the token's write may have created what it names)", () => {
    const f = flight();
    f.check("0/4000");
    f.read.handleError(serverError("42703", 'column "added" does not exist'));
    const o = f.outcome();
    expect(missOf(o)).toBe("behind");
    expect(o.replayed).toBe(parseLsn("0/4000"));
  });

  it("the read's server error after a check that passed is the read's own", () => {
    const f = flight();
    f.check("0/5000");
    f.read.handleError(serverError("42703", 'column "x" does not exist'));
    expect((f.outcome().err as { code?: string }).code).toBe("42703");
  });

  it("a check whose prepared statement is gone is a miss, and the next flight on that connection prepares it again", () => {
    const conn = connection();
    const f = flight(conn);
    f.read.handleError(
      serverError(
        "26000",
        'prepared statement "rr_replay_check" does not exist',
      ),
    );
    expect(missOf(f.outcome())).toBe("check_failed");
    conn.sent.length = 0;
    flight(conn);
    expect(conn.sent[0]).toBe("parse rr_replay_check");
  });

  it("a connection lost, or the server shutting the session down (FATAL), after a check that found it behind: the error as it is (the node's fault), not a miss", () => {
    const lost = flight();
    lost.check("0/4000");
    lost.read.handleError(
      Object.assign(new Error("Connection terminated unexpectedly"), {}),
    );
    expect(lost.outcome().err!.message).toBe(
      "Connection terminated unexpectedly",
    );
    const fatal = flight();
    fatal.check("0/4000");
    fatal.read.handleError(
      Object.assign(
        new Error("terminating connection due to administrator command"),
        { code: "57P01", severity: "FATAL" },
      ),
    );
    expect((fatal.outcome().err as { code?: string }).code).toBe("57P01");
    // Also when the severity is translated (lc_messages): SQLSTATE decides.
    const translated = flight();
    translated.check("0/4000");
    translated.read.handleError(
      Object.assign(new Error("Verbindung wird abgebrochen"), {
        code: "57P01",
        severity: "FATAL-de",
      }),
    );
    expect((translated.outcome().err as { code?: string }).code).toBe("57P01");
  });

  it("pg's own query_timeout reaches the caller as it is, once", () => {
    const f = flight();
    f.check("0/4000");
    // What pg's query_timeout does: the callback it wrapped, then a no-op
    // in its place, then handleError on the next tick.
    const wrapped = f.read.callback;
    f.read.callback = () => undefined;
    wrapped(new Error("Query read timeout"));
    f.read.handleError(new Error("Query read timeout"));
    expect(f.outcome().err!.message).toBe("Query read timeout");
  });
});

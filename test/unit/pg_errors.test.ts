import { describe, expect, it } from "vitest";
import { NodeUnavailableError } from "../../backend/database/router/base/errors";
import {
  classifyPgError,
  describePgError,
  failureCategory,
  isStandbyRefusal,
  toRouterError,
} from "../../backend/database/router/base/pg_errors";

const pgError = (code: string, message = "x") =>
  Object.assign(new Error(message), { code });

describe("classifyPgError", () => {
  it.each([
    ["ECONNREFUSED", "node"],
    ["08006", "node"],
    ["57P01", "node"],
    ["53300", "node"],
    ["25006", "read_only"],
    ["40P01", "recovery_conflict"],
    ["42601", "caller"],
    ["23505", "caller"],
  ])("%s is %s", (code, kind) => {
    expect(classifyPgError(pgError(code))).toBe(kind);
  });

  it("treats pg's own connection messages and an ended pool as node faults", () => {
    expect(
      classifyPgError(new Error("Connection terminated unexpectedly")),
    ).toBe("node");
    expect(
      classifyPgError(
        new Error("Cannot use a pool after calling end on the pool"),
      ),
    ).toBe("node");
    expect(
      classifyPgError(
        pgError("40001", "canceling statement due to conflict with recovery"),
      ),
    ).toBe("recovery_conflict");
  });
});

describe('classifyPgError: standby refusals that mean "run this on the primary"', () => {
  // SQLSTATE and errmsg exactly as a PostgreSQL 15 hot standby sends them
  // (checked against a real standby; hints are a separate field).
  it.each([
    ["25006", "cannot execute nextval() in a read-only transaction"],
    ["25006", "cannot execute pg_current_xact_id() during recovery"],
    ["25006", "cannot execute NOTIFY during recovery"],
    ["25006", "cannot create temporary tables during recovery"],
    ["25006", "cannot manipulate replication origins during recovery"],
    ["55000", "recovery is in progress"],
    [
      "55000",
      "cannot acquire lock mode ShareLock on database objects while recovery is in progress",
    ],
    ["0A000", "cannot set transaction read-write mode during recovery"],
    ["0A000", "cannot access temporary or unlogged relations during recovery"],
    ["0A000", "cannot use serializable mode in a hot standby"],
    ["0A000", "logical decoding cannot be used while in recovery"],
    ["XX000", "cannot assign TransactionIds during recovery"],
    ["XX000", "cannot assign OIDs during recovery"],
    ["XX000", "cannot assign MultiXactIds during recovery"],
    ["XX000", "cannot make new WAL entries during recovery"],
  ])("%s %s is read_only", (code, message) => {
    expect(classifyPgError(pgError(code, message))).toBe("read_only");
  });

  it.each([
    ["55000", 'currval of sequence "s" is not yet defined in this session'],
    ["55000", "lastval is not yet defined in this session"],
    ["55000", "recovery is not in progress"],
    ["55000", "could not get commit timestamp data"],
    ["55000", "logical decoding requires wal_level >= logical"],
    ["0A000", "cannot use RETURNING type"],
    ["XX000", "cache lookup failed for relation 42"],
    ["42883", "function pg_switch_wal() during recovery does not exist"],
  ])("%s %s stays a caller error", (code, message) => {
    expect(classifyPgError(pgError(code, message))).toBe("caller");
  });

  it("isStandbyRefusal needs both a refusal SQLSTATE and a recovery message", () => {
    expect(isStandbyRefusal("55000", "recovery is in progress")).toBe(true);
    expect(isStandbyRefusal("55000", undefined)).toBe(false);
    expect(isStandbyRefusal("22012", "recovery is in progress")).toBe(false);
    // 25006 is classified on its own, whatever its message.
    expect(isStandbyRefusal("25006", "recovery is in progress")).toBe(false);
    expect(classifyPgError(pgError("25006", "anything"))).toBe("read_only");
  });
});

describe("toRouterError (both front doors)", () => {
  it("keeps router errors, turns data/constraint errors into a 400 without the server's message, and leaves the rest", () => {
    const unavailable = new NodeUnavailableError("primary", "down");
    expect(toRouterError(unavailable)).toBe(unavailable);
    const data = toRouterError(
      pgError("23514", 'new row violates check constraint "secret_value_42"'),
    );
    expect(data).toMatchObject({ code: "invalid_argument" });
    expect(data!.message).toContain("23514");
    expect(data!.message).not.toContain("secret_value_42");
    expect(toRouterError(pgError("42601"))).toBeNull();
    expect(toRouterError(new Error("boom"))).toBeNull();
  });

  it("describePgError hides credentials a connection error may echo", () => {
    expect(
      describePgError(
        new Error("could not connect to postgres://app:hunter2@db:5432/app"),
      ),
    ).not.toContain("hunter2");
  });
});

describe("failureCategory: what a caller may read of a node fault", () => {
  it.each([
    [
      pgError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:39379"),
      "connection refused",
    ],
    [pgError("ETIMEDOUT", "connect ETIMEDOUT 10.0.0.12:5432"), "timed out"],
    [
      pgError("ENOTFOUND", "getaddrinfo ENOTFOUND db-2.internal"),
      "host not found",
    ],
    [
      pgError("EHOSTUNREACH", "connect EHOSTUNREACH 10.1.2.3:5432"),
      "unreachable",
    ],
    [
      pgError("53300", "sorry, too many clients already"),
      "too many connections",
    ],
    [
      pgError("57P01", "terminating connection due to administrator command"),
      "shutting down or starting up",
    ],
    [
      pgError("28P01", 'password authentication failed for user "app"'),
      "authentication failed",
    ],
    [new Error("Connection terminated unexpectedly"), "connection lost"],
    [new Error("timeout exceeded when trying to connect"), "timed out"],
    [
      pgError("08006", "connection failure on db-1.internal"),
      "connection failure",
    ],
  ])("%s -> %s", (err, category) => {
    expect(failureCategory(err)).toBe(category);
    // Never a host, port, user or driver text.
    expect(failureCategory(err)).not.toMatch(/\d+\.\d+|internal|app|ECONN/);
  });
});

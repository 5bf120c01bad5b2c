import { describe, expect, it } from "vitest";
import { NodeUnavailableError } from "../../backend/database/router/errors";
import {
  classifyPgError,
  describePgError,
  toRouterError,
} from "../../backend/database/router/pg_errors";

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

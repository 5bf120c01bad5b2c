/**
 * The one place both front doors turn the headers the router reads into a
 * request context: a token wins over X-Consistency, empty consistency
 * headers count as not sent, a malformed header is a 400 naming it, and
 * every request's writes bring a token.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../backend/database/router/index";
import { requestContextFromHeaders } from "../../backend/shared/http/router_headers";

describe("requestContextFromHeaders", () => {
  it("no headers: eventual by default (no consistency set), no caller, writes bring a token", () => {
    expect(requestContextFromHeaders("finance.getRevenue", undefined)).toEqual({
      endpoint: "finance.getRevenue",
      servedBy: [],
      wantsToken: true,
    });
    expect(
      requestContextFromHeaders("e", { consistency: "", consistencyToken: "" })
        .consistency,
    ).toBeUndefined();
  });

  it("X-Consistency is parsed; a token wins over it", () => {
    expect(
      requestContextFromHeaders("e", { consistency: "bounded=5" }).consistency,
    ).toEqual({ level: "bounded", maxLagSeconds: 5 });
    const ctx = requestContextFromHeaders("e", {
      consistency: "strong",
      consistencyToken: "main:0/3000A58",
    });
    expect(ctx.consistency?.level).toBe("read_your_writes");
  });

  it("the caller for per-user caps is the authenticated one, never a header", () => {
    const caller = { userId: "alice@x", orgs: [42] };
    expect(requestContextFromHeaders("e", {}, caller).userId).toBe("alice@x");
    // A header naming someone else changes nothing (it is not even read).
    const spoofed = { consistency: "eventual", userId: "mallory" };
    expect(requestContextFromHeaders("e", spoofed, caller).userId).toBe(
      "alice@x",
    );
    expect(requestContextFromHeaders("e", spoofed).userId).toBeUndefined();
  });

  it("a malformed header is an InvalidArgumentError naming it", () => {
    for (const [headers, name] of [
      [{ consistency: "sometimes" }, "X-Consistency"],
      [{ consistencyToken: "not a token" }, "X-Consistency-Token"],
    ] as const) {
      let thrown: unknown;
      try {
        requestContextFromHeaders("e", headers);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(headers)).toBeInstanceOf(
        InvalidArgumentError,
      );
      expect((thrown as Error).message).toContain(name);
    }
  });
});

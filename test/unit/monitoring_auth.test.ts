/**
 * Who may look at the monitoring routes: the monitoring token, the admin
 * token, or a dashboard session made from either, which the server expires
 * itself and which dies with its token.
 */
import { describe, expect, it } from "vitest";
import {
  forwardedHttps,
  monitoringAccess,
  sessionCookieHeader,
  sessionFor,
  sessionFromCookieHeader,
} from "../../backend/shared/http/monitoring_auth";

const MON = "monitor-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const both = { monitoringToken: MON, adminToken: ADMIN };
const bearer = (t: string) => `Bearer ${t}`;

describe("monitoringAccess", () => {
  it("with MONITORING_TOKEN set: the monitoring or admin token opens it, nothing else does", () => {
    expect(monitoringAccess({}, both)).toEqual({
      allowed: false,
      privileged: false,
    });
    expect(monitoringAccess({ authorization: bearer(MON) }, both)).toEqual({
      allowed: true,
      privileged: true,
    });
    expect(
      monitoringAccess({ authorization: bearer(ADMIN) }, both).allowed,
    ).toBe(true);
    expect(
      monitoringAccess({ authorization: bearer(`${MON}x`) }, both).allowed,
    ).toBe(false);
    expect(
      monitoringAccess({ authorization: `Basic ${MON}` }, both).allowed,
    ).toBe(false);
  });

  it("without it: open to all, privileged (addresses) only with a token", () => {
    const adminOnly = { monitoringToken: null, adminToken: ADMIN };
    expect(monitoringAccess({}, adminOnly)).toEqual({
      allowed: true,
      privileged: false,
    });
    expect(
      monitoringAccess({ authorization: bearer(ADMIN) }, adminOnly).privileged,
    ).toBe(true);
    expect(
      monitoringAccess({ authorization: bearer(MON) }, adminOnly).privileged,
    ).toBe(false);
  });

  it("a session from either token opens it until it expires, by the server's clock", () => {
    const t0 = Date.UTC(2026, 11, 2);
    for (const token of [MON, ADMIN]) {
      const session = sessionFor(token, both, t0)!;
      expect(session).not.toContain(token);
      expect(monitoringAccess({ session }, both, t0 + 3_600_000).allowed).toBe(
        true,
      );
      expect(
        monitoringAccess({ session }, both, t0 + 12 * 3_600_000 + 1).allowed,
      ).toBe(false);
    }
  });

  it("a session is refused once its token changes, and cannot be forged or stretched", () => {
    const t0 = Date.UTC(2026, 11, 2);
    const session = sessionFor(MON, both, t0)!;
    const rotated = {
      monitoringToken: "another-monitor-token-01",
      adminToken: ADMIN,
    };
    expect(monitoringAccess({ session }, rotated, t0).allowed).toBe(false);
    const [exp, kind, mac] = session.split(".");
    const later = `${Number(exp) + 86_400}.${kind}.${mac}`;
    expect(monitoringAccess({ session: later }, both, t0).allowed).toBe(false);
    const otherKind = `${exp}.a.${mac}`;
    expect(monitoringAccess({ session: otherKind }, both, t0).allowed).toBe(
      false,
    );
    expect(sessionFor("wrong-token-0123456789", both, t0)).toBeNull();
  });
});

describe("the session cookie", () => {
  it("is HttpOnly, SameSite=Strict, scoped to the system routes, Secure over HTTPS", () => {
    const header = sessionCookieHeader("1.m.x", true);
    expect(header).toContain("HttpOnly");
    expect(header).toContain("SameSite=Strict");
    expect(header).toContain("Path=/v1/system/database/");
    expect(header).toContain("Secure");
    expect(sessionCookieHeader("1.m.x", false)).not.toContain("Secure");
  });

  it("is found among other cookies; X-Forwarded-Proto is read by its first entry", () => {
    expect(sessionFromCookieHeader("a=1; rr_monitor=9.m.abc; b=2")).toBe(
      "9.m.abc",
    );
    expect(sessionFromCookieHeader("rr_monitorx=1")).toBeUndefined();
    expect(forwardedHttps("HTTPS, http")).toBe(true);
    expect(forwardedHttps("http")).toBe(false);
    expect(forwardedHttps(undefined)).toBe(false);
  });
});

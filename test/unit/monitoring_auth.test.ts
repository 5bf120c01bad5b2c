/**
 * Who may look at the monitoring routes: the monitoring token, the admin
 * token, or a dashboard session made from the monitoring token, signed with
 * a key of its own, which the server expires itself and which dies with its
 * token; and the guards of the dashboard's login (issue 24, item 6).
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  forwardedHttps,
  monitoringAccess,
} from "../../backend/shared/http/monitoring_auth";
import {
  sessionCookieHeader,
  sessionFor,
  sessionsFromCookies,
} from "../../backend/shared/http/dashboard_session";
import {
  LoginThrottle,
  originIsHttps,
  requireSameOrigin,
} from "../../backend/shared/http/login_guard";

const MON = "monitor-token-0123456789";
const ADMIN = "admin-token-0123456789abc";
const SECRET = "session-secret-0123456789";
const both = { monitoringToken: MON, adminToken: ADMIN, sessionSecret: SECRET };
const bearer = (t: string) => `Bearer ${t}`;
const t0 = Date.UTC(2026, 11, 2);

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
    const adminOnly = { ...both, monitoringToken: null };
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
});

describe("dashboard sessions", () => {
  it("come from the monitoring token only: the admin token is not taken at the login", () => {
    expect(sessionFor(MON, both, t0)).not.toBeNull();
    expect(sessionFor(ADMIN, both, t0)).toBeNull();
    expect(sessionFor("wrong-token-0123456789", both, t0)).toBeNull();
  });

  it("two logins in the same second get different cookies, both valid", () => {
    const a = sessionFor(MON, both, t0)!;
    const b = sessionFor(MON, both, t0)!;
    expect(a).not.toBe(b);
    for (const s of [a, b])
      expect(monitoringAccess({ sessions: [s] }, both, t0).allowed).toBe(true);
  });

  it("are signed with SESSION_SECRET, not the token: knowing the token does not let anyone mint one", async () => {
    const session = sessionFor(MON, both, t0)!;
    expect(session).not.toContain(MON);
    // The old scheme: an HMAC under the token itself (v1, `<exp>.m.<mac>`).
    const exp = Math.floor(t0 / 1000) + 3_600;
    const v1 = `${exp}.m.${createHmac("sha256", MON)
      .update(`replica-router dashboard session v1|m|${exp}`)
      .digest("base64url")}`;
    expect(monitoringAccess({ sessions: [v1] }, both, t0).allowed).toBe(false);
    // The new layout, with a MAC under the token instead of the secret.
    const [id] = session.split(".");
    const forged = `${id}.${exp}.${createHmac("sha256", MON)
      .update(`replica-router dashboard session v2|${id}|${exp}`)
      .digest("base64url")}`;
    expect(monitoringAccess({ sessions: [forged] }, both, t0).allowed).toBe(
      false,
    );
    // And a session from another SESSION_SECRET is refused.
    const other = { ...both, sessionSecret: "another-secret-012345678" };
    expect(monitoringAccess({ sessions: [session] }, other, t0).allowed).toBe(
      false,
    );
  });

  it("expire by the server's clock, die when the token changes, and cannot be stretched", () => {
    const session = sessionFor(MON, both, t0)!;
    const check = (s: string, tokens = both, at = t0) =>
      monitoringAccess({ sessions: [s] }, tokens, at).allowed;
    expect(check(session, both, t0 + 3_600_000)).toBe(true);
    expect(check(session, both, t0 + 12 * 3_600_000 + 1)).toBe(false);
    expect(
      check(session, { ...both, monitoringToken: "another-token-0123" }),
    ).toBe(false);
    const [id, exp, mac] = session.split(".");
    expect(check(`${id}.${Number(exp) + 86_400}.${mac}`)).toBe(false);
  });

  it("any valid cookie among several opens it: a planted one first does not lock the operator out", () => {
    const real = sessionFor(MON, both, t0)!;
    const sessions = sessionsFromCookies(
      `rr_monitor=bogus; a=1; rr_monitor=${real}`,
    );
    expect(sessions).toEqual(["bogus", real]);
    expect(monitoringAccess({ sessions }, both, t0).allowed).toBe(true);
    expect(
      sessionsFromCookies([`__Host-rr_monitor=${real}`, "rr_monitorx=1"]),
    ).toEqual([real]);
  });
});

describe("the session cookie", () => {
  it("over HTTPS: __Host- prefixed, Secure, Path=/; over HTTP: scoped to the system routes", () => {
    const https = sessionCookieHeader("s", true);
    expect(https).toMatch(/^__Host-rr_monitor=s; Path=\/;/);
    expect(https).toContain("Secure");
    expect(https).not.toContain("Domain");
    const http = sessionCookieHeader("s", false);
    expect(http).toMatch(/^rr_monitor=s; Path=\/v1\/system\/database\/;/);
    expect(http).not.toContain("Secure");
    for (const h of [https, http]) {
      expect(h).toContain("HttpOnly");
      expect(h).toContain("SameSite=Strict");
    }
  });

  it("X-Forwarded-Proto is read by its first entry", () => {
    expect(forwardedHttps("HTTPS, http")).toBe(true);
    expect(forwardedHttps("http")).toBe(false);
    expect(forwardedHttps(undefined)).toBe(false);
  });
});

describe("the login's guards", () => {
  const req = { https: false, address: "10.0.0.1", host: "svc:4000" };

  it("same origin only: another site's Origin or Sec-Fetch-Site is a 403; none (curl) passes", () => {
    expect(() => requireSameOrigin(req)).not.toThrow();
    expect(() =>
      requireSameOrigin({
        ...req,
        origin: "http://svc:4000",
        fetchSite: "same-origin",
      }),
    ).not.toThrow();
    for (const bad of [
      { origin: "https://evil.example" },
      { origin: "http://svc:4000", fetchSite: "cross-site" },
      { fetchSite: "same-site" },
      { origin: "null" },
      // A proxy's X-Forwarded-Host names the site the browser asked for.
      {
        origin: "https://svc:4000",
        host: "127.0.0.1",
        forwardedHost: "other.example",
      },
    ])
      expect(
        () => requireSameOrigin({ ...req, ...bad }),
        JSON.stringify(bad),
      ).toThrow(/own page/);
  });

  it("behind a proxy that rewrote Host, X-Forwarded-Host is the site; the Origin's scheme tells HTTPS", () => {
    const behind = {
      ...req,
      host: "127.0.0.1",
      forwardedHost: "dash.example.com",
      origin: "https://dash.example.com",
      fetchSite: "same-origin",
    };
    expect(() => requireSameOrigin(behind)).not.toThrow();
    expect(originIsHttps(behind.origin)).toBe(true);
    expect(originIsHttps("http://svc:4000")).toBe(false);
    expect(originIsHttps(undefined)).toBe(false);
  });

  it("backs off per address after five failures, doubling up to a minute; a success or 15 quiet minutes clear it", () => {
    let now = 0;
    const throttle = new LoginThrottle(() => now);
    for (let i = 0; i < LoginThrottle.FREE - 1; i++) {
      throttle.check("a");
      throttle.failed("a");
    }
    throttle.check("a");
    throttle.failed("a"); // the fifth: now a 1 s wait
    expect(() => throttle.check("a")).toThrow(/retry in 1 s/);
    expect(() => throttle.check("b")).not.toThrow();
    now += 1_000;
    throttle.check("a");
    throttle.failed("a");
    expect(() => throttle.check("a")).toThrow(/retry in 2 s/);
    now += 2_000;
    throttle.succeeded("a");
    expect(() => throttle.check("a")).not.toThrow();
    // Many failures: the wait stops at a minute.
    for (let i = 0; i < 20; i++) throttle.failed("c");
    expect(() => throttle.check("c")).toThrow(/retry in 60 s/);
    // After 15 quiet minutes the count starts over: one failure, no wait.
    now += 16 * 60_000;
    throttle.failed("c");
    expect(() => throttle.check("c")).not.toThrow();
  });
});

/// <reference lib="dom" />
/**
 * The status dashboard in a real browser (Debian's chromium, headless,
 * through puppeteer-core) against the running service on a cluster of its
 * own: node rows with states in words, a replica paused in the test shown
 * as lagging within seconds, phone width, lost contact; and the monitoring
 * token: every monitoring route but health refused without it, the page's
 * login form, and no password in the page or its JSON.
 */
import { mkdtemp, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { startTestApp, type TestApp } from "./helpers/app";
import { launchChromium, type HeadlessChromium } from "./helpers/browser";
import { sql, withFreshCluster } from "./helpers/clusters";
import { newItem, orgIdBlock } from "./helpers/http";
import { CHROMIUM, haveTool } from "./helpers/system_tools";
import { report } from "../support/verbose";

const ADMIN_TOKEN = "dashboard-admin-token-0123456789";
const MONITORING_TOKEN = "dashboard-monitor-token-0123456789";
const PASSWORD = "Dashboard-Db-pw-4417";
const DASHBOARD = "/v1/system/database/replicas/dashboard";
const [org] = orgIdBlock(1) as [number];

// CI installs chromium (.ci/run); elsewhere, without it, the global setup
// names the skip and these tests skip.
const haveChromium = haveTool(CHROMIUM);

let cluster: LocalCluster;
let chrome: HeadlessChromium;
let shots: string;

/** The URL with a password the servers ignore (trust auth), to prove it never comes back out. */
const withPassword = (url: string) =>
  url.replace("postgres://postgres@", `postgres://postgres:${PASSWORD}@`);

beforeAll(async () => {
  cluster = await withFreshCluster(2);
  if (haveChromium) chrome = await launchChromium();
  shots = await mkdtemp(path.join(os.tmpdir(), "dashboard-test-"));
});

afterAll(async () => {
  await chrome?.close();
  await cluster?.destroy();
});

/** Node rows as the page shows them: name, data-state, and the state cell's words. */
async function rows(page: Page) {
  return page.$$eval("tr[data-node]", (trs) =>
    trs.map((tr) => ({
      node: tr.getAttribute("data-node"),
      state: tr.getAttribute("data-state"),
      text: tr.querySelector("td.state")?.textContent?.trim() ?? "",
    })),
  );
}

describe.runIf(haveChromium)(
  "dashboard in a browser (no monitoring token)",
  () => {
    let t: TestApp;
    let page: Page;
    const requests: string[] = [];

    beforeAll(async () => {
      t = await startTestApp(
        withPassword(cluster.primary.url),
        cluster.replicas.map((r) => withPassword(r.url)),
        // A replica over 1 s behind stops serving: the page shows it "lagging".
        { REPLICA_MAX_LAG_SECONDS: "1s", ADMIN_TOKEN },
        { historyIntervalMs: 500 },
      );
      page = await chrome.browser.newPage();
      page.on("request", (r) => requests.push(r.url()));
      await page.setViewport({ width: 1280, height: 900 });
    });

    afterAll(async () => {
      await sql(
        cluster.replicas[0]!.url,
        "SELECT pg_wal_replay_resume()",
      ).catch(() => {});
      await page?.close();
      await t?.close();
    });

    it("shows each node's row, state in words, the charts and the events; loads nothing from elsewhere", async () => {
      for (let i = 0; i < 5; i++)
        await t.call("GET", `/v1/finance/orgs/${org}/revenues`);
      const res = await page.goto(t.baseUrl + DASHBOARD);
      expect(res!.status()).toBe(200);
      const csp = res!.headers()["content-security-policy"]!;
      expect(csp).toContain("default-src 'none'");
      // Its one script runs by hash (the rows below prove it ran): no other inline script could.
      expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+';/);
      await page.waitForSelector('body[data-contact="ok"]', {
        timeout: 10_000,
      });
      await page.waitForFunction(
        () => document.querySelectorAll("tr[data-node]").length === 3,
      );
      expect(await rows(page)).toEqual([
        { node: "primary", state: "healthy", text: "healthy" },
        { node: "replica_1", state: "healthy", text: "healthy" },
        { node: "replica_2", state: "healthy", text: "healthy" },
      ]);
      // One lag chart per replica, one reads chart; the router's start is an event.
      await page.waitForSelector(
        'figure[data-chart="lag"][data-node="replica_2"]',
      );
      await page.waitForSelector('figure[data-chart="reads"]');
      // The router's own "node health changed" log lines became events
      // (event_log.ts recognises them by their text: this pins it).
      const health = await page.$$eval(
        '#events li[data-kind="health"]',
        (lis) => lis.map((li) => li.textContent ?? ""),
      );
      expect(health.some((t) => t.includes("primary: unknown → healthy"))).toBe(
        true,
      );
      expect(
        requests.every((u) => u.startsWith(t.baseUrl)),
        requests.join("\n"),
      ).toBe(true);
    });

    it("shows a replica paused in the test as lagging within a few seconds", async () => {
      const replica = cluster.replicas[0]!;
      await sql(replica.url, "SELECT pg_wal_replay_pause()");
      const t0 = performance.now();
      // Writes the paused replica does not replay: its lag grows past the 1 s bound.
      const writer = setInterval(() => {
        void t.call("POST", `/v1/finance/orgs/${org}/revenues`, newItem());
      }, 200);
      try {
        await page.waitForSelector(
          'tr[data-node="replica_1"][data-state="lagging"]',
          { timeout: 15_000 },
        );
      } finally {
        clearInterval(writer);
      }
      const ms = performance.now() - t0;
      report(`paused replica shown as lagging after ${Math.round(ms)} ms`);
      const row = (await rows(page)).find((r) => r.node === "replica_1")!;
      expect(row.text).toBe("lagging");
      // ...and in the event list, once the history sampler (500 ms) has seen it.
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll("#events li")).some((li) =>
            (li.textContent ?? "").includes("healthy → lagging"),
          ),
        { timeout: 5_000 },
      );
      // The other replica keeps serving, in words.
      expect((await rows(page)).find((r) => r.node === "replica_2")!.text).toBe(
        "healthy",
      );
      const file = path.join(shots, "dashboard.png");
      await page.screenshot({ path: file, fullPage: true });
      report(`screenshot: ${file}`);
      expect((await stat(file)).size).toBeGreaterThan(10_000);
      await sql(replica.url, "SELECT pg_wal_replay_resume()");
    });

    it("fits a phone's width without scrolling sideways", async () => {
      await page.setViewport({ width: 375, height: 800 });
      await page.reload();
      await page.waitForSelector('body[data-contact="ok"]');
      const { scrollWidth, innerWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
      }));
      expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
      await page.screenshot({ path: path.join(shots, "dashboard-phone.png") });
    });

    it("says clearly when it has lost contact with the service", async () => {
      expect(await page.$eval("body", (b) => b.dataset.contact)).toBe("ok");
      await t.close();
      await page.waitForSelector("#contact-lost", {
        visible: true,
        timeout: 10_000,
      });
      expect(await page.$eval("body", (b) => b.dataset.contact)).toBe("lost");
      expect(await page.$eval("#contact-lost", (e) => e.textContent)).toContain(
        "Lost contact",
      );
    });
  },
);

describe("with MONITORING_TOKEN set", () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(
      withPassword(cluster.primary.url),
      cluster.replicas.map((r) => withPassword(r.url)),
      { MONITORING_TOKEN, ADMIN_TOKEN },
    );
  });

  afterAll(async () => {
    await t?.close();
  });

  it("every monitoring route but health is 401 without the token, and answers with it", async () => {
    const monitoring = t.app.routes.filter((r) => r.monitoring === true);
    expect(monitoring.map((r) => r.path).sort()).toEqual([
      "/metrics",
      "/v1/system/database/connection-pool/stats",
      "/v1/system/database/replicas/dashboard",
      "/v1/system/database/replicas/events",
      "/v1/system/database/replicas/fleet",
      "/v1/system/database/replicas/history",
      "/v1/system/database/replicas/lag",
      "/v1/system/database/replicas/status",
    ]);
    for (const r of monitoring) {
      const none = await t.call("GET", r.path);
      expect(none.status, r.path).toBe(401);
      const wrong = await t.call("GET", r.path, undefined, {
        Authorization: `Bearer ${MONITORING_TOKEN}x`,
      });
      expect(wrong.status, r.path).toBe(401);
      for (const token of [MONITORING_TOKEN, ADMIN_TOKEN]) {
        const ok = await t.call("GET", r.path, undefined, {
          Authorization: `Bearer ${token}`,
        });
        expect(ok.status, r.path).toBe(200);
      }
    }
    expect(
      (await t.call("GET", "/v1/system/database/replicas/health")).status,
    ).toBe(200);
    // Holders of the monitoring token see addresses (never a password).
    const status = await t.call(
      "GET",
      "/v1/system/database/replicas/status",
      undefined,
      {
        Authorization: `Bearer ${MONITORING_TOKEN}`,
      },
    );
    expect(status.body.primary.address).toMatch(/^127\.0\.0\.1:\d+\//);
  });

  it("neither the page nor its JSON holds a password or a connection string", async () => {
    const auth = { Authorization: `Bearer ${MONITORING_TOKEN}` };
    for (const p of ["dashboard", "history", "events", "status", "fleet"]) {
      const res = await t.call(
        "GET",
        `/v1/system/database/replicas/${p}`,
        undefined,
        auth,
      );
      const text =
        typeof res.body === "string" ? res.body : JSON.stringify(res.body);
      expect(text, p).not.toContain(PASSWORD);
      expect(text, p).not.toMatch(/postgres(ql)?:\/\//);
    }
  });

  it.runIf(haveChromium)(
    "the page asks for the token once, then shows the data with an HttpOnly cookie",
    async () => {
      const page = await chrome.browser.newPage();
      try {
        const res = await page.goto(t.baseUrl + DASHBOARD);
        expect(res!.status()).toBe(401);
        await page.waitForSelector("#login", { visible: true });
        await page.type("#token", "not-the-token-at-all");
        await page.click("#login button[type=submit], #login button");
        await page.waitForFunction(() =>
          (document.querySelector("#login-error")?.textContent ?? "").includes(
            "Wrong",
          ),
        );
        await page.$eval("#token", (e) => ((e as HTMLInputElement).value = ""));
        await page.type("#token", MONITORING_TOKEN);
        await page.click("#login button[type=submit], #login button");
        await page.waitForSelector('body[data-contact="ok"]', {
          timeout: 10_000,
        });
        await page.waitForSelector('tr[data-node="replica_2"]');
        const cookies = await page.cookies();
        const session = cookies.find((c) => c.name === "rr_monitor")!;
        expect(session.httpOnly).toBe(true);
        expect(session.sameSite).toBe("Strict");
        expect(session.value).not.toContain(MONITORING_TOKEN);
        // The cookie alone (no bearer) opens the JSON routes too.
        const withCookie = await t.call(
          "GET",
          "/v1/system/database/replicas/history",
          undefined,
          { Cookie: `rr_monitor=${session.value}` },
        );
        expect(withCookie.status).toBe(200);
        // A reload keeps the session.
        const again = await page.reload();
        expect(again!.status()).toBe(200);
      } finally {
        await page.close();
      }
    },
  );

  it("the login refuses a malformed body with a 400 naming the field, and a wrong token with a 401", async () => {
    const bad = await t.call("POST", `${DASHBOARD}/login`, { token: 5 });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("token");
    const wrong = await t.call("POST", `${DASHBOARD}/login`, { token: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  const login = (
    headers: Record<string, string> = {},
    token = MONITORING_TOKEN,
  ) => t.call("POST", `${DASHBOARD}/login`, { token }, headers);
  const cookieOf = (res: { headers: Headers }) =>
    (res.headers.get("set-cookie") ?? "").split(";")[0]!;

  it("sessions: a random id per login, the admin token refused, any valid cookie among several", async () => {
    const a = await login();
    const b = await login();
    expect(a.status).toBe(200);
    expect(cookieOf(a)).toMatch(/^rr_monitor=/);
    expect(cookieOf(a)).not.toBe(cookieOf(b));
    // The admin token is not a dashboard password.
    const admin = await login({}, ADMIN_TOKEN);
    expect(admin.status).toBe(401);
    expect(admin.headers.get("set-cookie")).toBeNull();
    // A planted cookie sent first does not hide the real one.
    const both = await t.call(
      "GET",
      "/v1/system/database/replicas/history",
      undefined,
      {
        Cookie: `rr_monitor=bogus; ${cookieOf(b)}`,
      },
    );
    expect(both.status).toBe(200);
  });

  it("over HTTPS the cookie is __Host-rr_monitor, Secure, Path=/, and it opens the routes", async () => {
    const res = await login({ "X-Forwarded-Proto": "https" });
    const header = res.headers.get("set-cookie") ?? "";
    expect(header).toMatch(/^__Host-rr_monitor=[^;]+; Path=\/;/);
    expect(header).toContain("Secure");
    const opened = await t.call(
      "GET",
      "/v1/system/database/replicas/history",
      undefined,
      {
        Cookie: cookieOf(res),
      },
    );
    expect(opened.status).toBe(200);
  });

  it("the login takes same-origin JSON only", async () => {
    const evil = await login({ Origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(evil.headers.get("set-cookie")).toBeNull();
    const crossSite = await login({ "Sec-Fetch-Site": "cross-site" });
    expect(crossSite.status).toBe(403);
    const own = await login({
      Origin: t.baseUrl,
      "Sec-Fetch-Site": "same-origin",
    });
    expect(own.status).toBe(200);
    const form = await t.call(
      "POST",
      `${DASHBOARD}/login`,
      JSON.stringify({ token: MONITORING_TOKEN }),
      { "content-type": "text/plain" },
    );
    expect(form.status).toBe(415);
  });

  it("failed logins back off per address: after five, even the right token waits", async () => {
    const fresh = await startTestApp(
      withPassword(cluster.primary.url),
      cluster.replicas.map((r) => withPassword(r.url)),
      { MONITORING_TOKEN },
    );
    try {
      const attempt = (token: string) =>
        fresh.call("POST", `${DASHBOARD}/login`, { token });
      for (let i = 0; i < 5; i++)
        expect((await attempt("wrong-token")).status).toBe(401);
      const held = await attempt(MONITORING_TOKEN);
      expect(held.status).toBe(429);
      expect(held.body.message).toMatch(/retry in \d+ s/);
    } finally {
      await fresh.close();
    }
  });
});

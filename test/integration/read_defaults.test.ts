/**
 * Primary-first adoption (issue 25, item 4): DEFAULT_READ_CONSISTENCY sets
 * the consistency of reads that name none, READ_CONSISTENCY_ENDPOINTS sets
 * it per endpoint, against the suite's real primary and replicas. The
 * caller's own level still wins, and the operator's default is not the
 * caller's choice for CALLER_PRIMARY_READS.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ConfigError, loadConfig } from "../../backend/database/router/index";
import { startTestApp, type TestApp } from "./helpers/app";
import { orgIdBlock } from "./helpers/http";
import { eventually } from "./helpers/clusters";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const [org] = orgIdBlock(1) as [number];

describe("DEFAULT_READ_CONSISTENCY=strong with one endpoint on replicas", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(primaryUrl, replicaUrls, {
      DEFAULT_READ_CONSISTENCY: "strong",
      READ_CONSISTENCY_ENDPOINTS:
        "finance.sumRevenues=eventual, finance.sumExpenses=bounded=30",
      // The operator's default is not a caller asking for the primary.
      CALLER_PRIMARY_READS: "refuse",
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("a read that names no level goes to the primary; the endpoints set apart read from replicas", async () => {
    for (let i = 0; i < 4; i++) {
      const list = await t.call("GET", `/v1/finance/orgs/${org}/revenues`);
      expect(list.status).toBe(200);
      expect(list.servedBy).toBe("primary");
      const sum = await t.call("GET", `/v1/finance/orgs/${org}/revenues/sum`);
      expect(sum.status).toBe(200);
      expect(sum.servedBy).toMatch(/^replica_/);
    }
    // bounded=30: a replica within 30 s of lag (lag is sampled: allow for
    // a sample taken just after an idle spell).
    await eventually(async () => {
      const bounded = await t.call(
        "GET",
        `/v1/finance/orgs/${org}/expenses/sum`,
      );
      expect(bounded.servedBy).toMatch(/^replica_/);
    });
  });

  it("reads sent to the primary by the default are counted apart from reads that asked for strong", async () => {
    await t.call("GET", `/v1/finance/orgs/${org}/revenues`);
    const text = String((await t.call("GET", "/metrics")).body);
    expect(text).toMatch(
      /read_routing_total\{[^}]*endpoint="finance\.listRevenues"[^}]*reason="default_strong"[^}]*\} [1-9]/,
    );
    // Nothing here asked for strong itself (LowReplicaShare leaves default_strong out).
    expect(text).not.toMatch(
      /read_routing_total\{[^}]*endpoint="finance\.listRevenues"[^}]*reason="strong"/,
    );
  });

  it("the caller's own level still wins", async () => {
    const eventual = await t.call(
      "GET",
      `/v1/finance/orgs/${org}/revenues`,
      undefined,
      { "X-Consistency": "eventual" },
    );
    expect(eventual.status).toBe(200);
    expect(eventual.servedBy).toMatch(/^replica_/);
  });

  it("the status shows the default and each endpoint's own", async () => {
    const status = await t.call("GET", "/v1/system/database/replicas/status");
    expect(status.body.readDefaults).toEqual({
      default: "strong",
      endpoints: {
        "finance.sumExpenses": "bounded=30",
        "finance.sumRevenues": "eventual",
      },
    });
  });
});

describe("the default", () => {
  it("is eventual, as before, when unset", async () => {
    const t = await startTestApp(primaryUrl, replicaUrls);
    try {
      const list = await t.call("GET", `/v1/finance/orgs/${org}/revenues`);
      expect(list.servedBy).toMatch(/^replica_/);
      const status = await t.call("GET", "/v1/system/database/replicas/status");
      expect(status.body.readDefaults).toEqual({
        default: "eventual",
        endpoints: {},
      });
    } finally {
      await t.close();
    }
  });

  it("a bad value stops start-up naming the variable", () => {
    const base = { DATABASE_URL: primaryUrl };
    const issues = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
        return [];
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).issues;
      }
    };
    expect(issues({ DEFAULT_READ_CONSISTENCY: "sometimes" })).toEqual([
      expect.stringMatching(/^DEFAULT_READ_CONSISTENCY: expected strong/),
    ]);
    expect(
      issues({ READ_CONSISTENCY_ENDPOINTS: "finance.listRevenues" }),
    ).toEqual([
      expect.stringMatching(
        /^READ_CONSISTENCY_ENDPOINTS\[1\]: expected endpoint=level/,
      ),
    ]);
    expect(
      issues({ READ_CONSISTENCY_ENDPOINTS: "a.b=eventual,c.d=never" }),
    ).toEqual([
      expect.stringMatching(
        /^READ_CONSISTENCY_ENDPOINTS\[2\]: expected strong/,
      ),
    ]);
    expect(
      issues({ READ_CONSISTENCY_ENDPOINTS: "a.b=eventual,a.b=strong" }),
    ).toEqual([expect.stringMatching(/\[2\]: a\.b is listed twice/)]);
    expect(issues({ DEFAULT_READ_CONSISTENCY: " Strong " })).toEqual([]);
    expect(issues({ READ_CONSISTENCY_ENDPOINTS: "a.b=eventual," })).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import type { DbNode } from "../../backend/database/router/nodes/db_node";

const node = (name: string) => ({ name }) as DbNode;

describe("RouterMetrics exposition", () => {
  it("renders routing counts and a cumulative latency histogram from the hot-path numbers", async () => {
    const m = new RouterMetrics({ defaultMetrics: false });
    const r1 = node("replica_1");
    const primary = node("primary");
    m.onQuery(r1, "read", 0.0007);
    m.onQuery(r1, "read", 0.02);
    m.onQuery(primary, "write", 12);
    m.onRoute(r1, "finance.listRevenues", "replica");
    m.onRoute(r1, "finance.listRevenues", "replica");
    m.onRoute(primary, "", "strong");
    const text = (await m.render()).body;
    expect(text).toContain(
      'read_routing_total{target="replica_1",endpoint="finance.listRevenues",reason="replica"} 2',
    );
    expect(text).toContain(
      'read_routing_total{target="primary",endpoint="(none)",reason="strong"} 1',
    );
    expect(text).toContain("# TYPE db_query_duration_seconds histogram");
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="replica_1",kind="read",le="0.0005"} 0',
    );
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="replica_1",kind="read",le="0.001"} 1',
    );
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="replica_1",kind="read",le="0.025"} 2',
    );
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="replica_1",kind="read",le="+Inf"} 2',
    );
    expect(text).toContain(
      'db_query_duration_seconds_count{node="replica_1",kind="read"} 2',
    );
    expect(text).toContain(
      'db_query_duration_seconds_sum{node="replica_1",kind="read"} 0.0207',
    );
    // Beyond the last bound only +Inf counts it.
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="primary",kind="write",le="10"} 0',
    );
    expect(text).toContain(
      'db_query_duration_seconds_bucket{node="primary",kind="write",le="+Inf"} 1',
    );
    // A second scrape reports the same totals, not doubled ones.
    expect((await m.render()).body).toContain(
      'read_routing_total{target="replica_1",endpoint="finance.listRevenues",reason="replica"} 2',
    );
  });

  it("exports read failures by node and outcome once there is one", async () => {
    const m = new RouterMetrics({ defaultMetrics: false });
    expect((await m.render()).body).not.toContain("read_failures_total{");
    const r1 = node("replica_1");
    m.onReadFailed(r1, "finance.listRevenues", "retried");
    m.onReadFailed(r1, "finance.getRevenue", "retried");
    m.onReadFailed(node("primary"), "", "failed");
    const text = (await m.render()).body;
    expect(text).toContain("# TYPE read_failures_total counter");
    expect(text).toContain(
      'read_failures_total{node="replica_1",outcome="retried"} 2',
    );
    expect(text).toContain(
      'read_failures_total{node="primary",outcome="failed"} 1',
    );
    expect(text).not.toContain(
      'read_failures_total{node="replica_1",outcome="failed"}',
    );
  });

  it("snapshots the same counts, summed over endpoints, without gauges before attach", () => {
    const m = new RouterMetrics({ defaultMetrics: false });
    const r1 = node("replica_1");
    m.onRoute(r1, "finance.listRevenues", "replica");
    m.onRoute(r1, "finance.getRevenue", "replica");
    m.onRoute(node("primary"), "", "strong");
    m.onReadFailed(r1, "", "retried");
    expect(m.snapshot()).toEqual({
      reads: [
        { node: "replica_1", reason: "replica", count: 2 },
        { node: "primary", reason: "strong", count: 1 },
      ],
      readFailures: [{ node: "replica_1", outcome: "retried", count: 1 }],
      replicas: [],
      clusters: [],
      cacheReads: [],
      cacheInvalidations: 0,
    });
  });

  it("counts cache reads by outcome and invalidations, in the snapshot (Encore) and in Prometheus", async () => {
    const m = new RouterMetrics({ defaultMetrics: false });
    m.cache.onRead("finance.sumRevenues", "hit_memory", 0.0002);
    m.cache.onRead("finance.sumRevenues", "hit_memory", 0.0002);
    m.cache.onRead("finance.listRevenues", "miss", 0.004);
    m.cache.onRead("finance.listRevenues", "hit_memory", 0.0002);
    m.cache.onInvalidate(3, false);
    m.cache.onSkip("behind_fence");
    const s = m.snapshot();
    expect(s.cacheReads).toEqual([
      { outcome: "hit_memory", count: 3 },
      { outcome: "miss", count: 1 },
    ]);
    expect(s.cacheInvalidations).toBe(1);
    const { body } = await m.render();
    expect(body).toContain(
      'cache_requests_total{endpoint="finance.sumRevenues",outcome="hit_memory"} 2',
    );
    expect(body).toContain('cache_invalidations_total{tier="local"} 1');
    expect(body).toContain('cache_fill_skipped_total{reason="behind_fence"} 1');
    expect(body).toContain(
      'cache_read_duration_seconds_count{outcome="miss"} 1',
    );
  });
});

/**
 * Publishing the router's figures to Encore's native metrics: the
 * runtime-agnostic publisher against a recording sink and a real
 * ReplicaRouter with fake pools, and the Encore edge file with
 * `encore.dev/metrics` mocked (no Encore runtime here).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  MetricsPublisher,
  type MetricsSink,
} from "../../backend/database/encore/metrics_publisher";
import { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import { ManualClock } from "../../backend/database/router/support/clock";
import { loadConfig } from "../../backend/database/router/config/load_config";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import { NodeUnavailableError } from "../../backend/database/router/base/errors";
import type { Logger } from "../../backend/database/router/support/logger";
import { silentLogger } from "../../backend/database/router/support/logger";
import { FakePool } from "./helpers/fake_pool";
import { ReplicaRouter } from "../../backend/database/router/replica_router";

/** What the mocked `encore.dev/metrics` saw: each declared metric and every update. */
const encore = vi.hoisted(() => ({
  declared: [] as { kind: string; name: string }[],
  updates: [] as { name: string; labels: unknown; op: string; v: number }[],
}));

vi.mock("encore.dev/metrics", () => {
  const group = (kind: string) =>
    class {
      constructor(readonly name: string) {
        encore.declared.push({ kind, name });
      }
      with(labels: unknown) {
        const name = this.name;
        return {
          increment: (v = 1) =>
            encore.updates.push({ name, labels, op: "increment", v }),
          set: (v: number) =>
            encore.updates.push({ name, labels, op: "set", v }),
        };
      }
    };
  return {
    Counter: group("Counter"),
    CounterGroup: group("CounterGroup"),
    Gauge: group("Gauge"),
    GaugeGroup: group("GaugeGroup"),
  };
});

type Update = { metric: keyof MetricsSink; labels: unknown; v: number };

/** Records what the publisher pushes, in order. */
function recordingSink() {
  const increments: Update[] = [];
  const sets: Update[] = [];
  const counter = (metric: keyof MetricsSink) => ({
    increment: (labels: unknown, v: number) =>
      void increments.push({ metric, labels, v }),
  });
  const gauge = (metric: keyof MetricsSink) => ({
    set: (labels: unknown, v: number) => void sets.push({ metric, labels, v }),
  });
  const sink: MetricsSink = {
    reads: counter("reads"),
    readFailures: counter("readFailures"),
    replicaLagSeconds: gauge("replicaLagSeconds"),
    replicaLagBytes: gauge("replicaLagBytes"),
    replicaCircuitState: gauge("replicaCircuitState"),
    healthyReplicas: gauge("healthyReplicas"),
    cacheReads: counter("cacheReads"),
    cacheInvalidations: counter("cacheInvalidations"),
  };
  return { sink, increments, sets };
}

const node = (name: string) => ({ name }) as DbNode;

/** A started router over fake pools (primary, r1, r2) whose observer is `metrics`. */
async function routerWithMetrics() {
  const pools = new Map<string, FakePool>();
  const metrics = new RouterMetrics({ defaultMetrics: false });
  const clock = new ManualClock();
  const config = loadConfig({
    DATABASE_URL: "postgres://u:pw@primary:5432/app",
    READ_REPLICA_URLS:
      "postgres://u:pw@r1:5432/app,postgres://u:pw@r2:5432/app",
    REPLICA_HEALTH_CHECK_INTERVAL: "1h",
    REPLICA_LAG_POLL_INTERVAL: "1h",
  });
  const router = new ReplicaRouter(config.router, {
    clock,
    logger: silentLogger,
    observer: metrics,
    poolFactory: (url) => {
      const host = new URL(url).hostname;
      const pool = new FakePool(host !== "primary");
      pools.set(host, pool);
      return pool;
    },
  });
  metrics.attach(router.roles);
  await router.start();
  const read = () => router.getReadConnection().queryAll`SELECT 1`;
  const pool = (host: string) => pools.get(host)!;
  return { router, metrics, clock, read, pool };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("MetricsPublisher counters", () => {
  it("pushes each counter's delta once and never re-pushes it", () => {
    const metrics = new RouterMetrics({ defaultMetrics: false });
    const { sink, increments } = recordingSink();
    const publisher = new MetricsPublisher(metrics, sink);
    const r1 = node("replica_1");
    metrics.onRoute(r1, "finance.listRevenues", "replica");
    metrics.onRoute(r1, "finance.getRevenue", "replica");
    metrics.onRoute(r1, "", "replica");
    metrics.onRoute(node("primary"), "", "strong");
    publisher.publish();
    // Summed over endpoints: Encore gets node and reason only.
    expect(increments).toEqual([
      {
        metric: "reads",
        labels: { node: "replica_1", reason: "replica" },
        v: 3,
      },
      { metric: "reads", labels: { node: "primary", reason: "strong" }, v: 1 },
    ]);
    publisher.publish();
    expect(increments).toHaveLength(2);
    metrics.onRoute(r1, "finance.listRevenues", "replica");
    metrics.onReadFailed(r1, "finance.listRevenues", "retried");
    publisher.publish();
    expect(increments.slice(2)).toEqual([
      {
        metric: "reads",
        labels: { node: "replica_1", reason: "replica" },
        v: 1,
      },
      {
        metric: "readFailures",
        labels: { node: "replica_1", outcome: "retried" },
        v: 1,
      },
    ]);
    publisher.publish();
    expect(increments).toHaveLength(4);
  });

  it("re-sends a delta the sink refused, and logs a failed periodic publish", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const metrics = new RouterMetrics({ defaultMetrics: false });
    const { sink, increments } = recordingSink();
    let refuse = true;
    const inner = sink.reads;
    sink.reads = {
      increment: (labels, n) => {
        if (refuse) throw new Error("sink down");
        inner.increment(labels, n);
      },
    };
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const publisher = new MetricsPublisher(metrics, sink, { logger });
    metrics.onRoute(node("replica_1"), "", "replica");
    publisher.start(1_000);
    vi.advanceTimersByTime(1_000);
    expect(warnings).toEqual(["publishing metrics failed"]);
    refuse = false;
    metrics.onRoute(node("replica_1"), "", "replica");
    vi.advanceTimersByTime(1_000);
    expect(increments).toEqual([
      {
        metric: "reads",
        labels: { node: "replica_1", reason: "replica" },
        v: 2,
      },
    ]);
    publisher.stop();
  });
});

describe("MetricsPublisher gauges", () => {
  it("sets lag, circuit state and healthy replicas from the router's current state", async () => {
    const { router, metrics, clock, pool } = await routerWithMetrics();
    // Caught up at start; 10 s later 4 KiB behind, last replay 2.5 s ago.
    clock.advance(10_000);
    pool("primary").primaryLsn = "0/1100";
    pool("r1").replayAgeMs = 2_500;
    pool("r2").replayAgeMs = 4_000;
    await router.lagMonitor.sampleAll();
    const r2 = router.clusters[0]!.replicas[1]!;
    r2.breaker!.openManually();
    const { sink, sets } = recordingSink();
    const publisher = new MetricsPublisher(metrics, sink);
    publisher.publish();
    /** The values last set on `metric`, by its one label's value. */
    const of = (metric: keyof MetricsSink) =>
      Object.fromEntries(
        sets
          .filter((s) => s.metric === metric)
          .map((s) => [Object.values(s.labels as object)[0], s.v]),
      );
    expect(of("replicaLagBytes")).toEqual({ replica_1: 4096, replica_2: 4096 });
    expect(of("replicaLagSeconds")).toEqual({ replica_1: 2.5, replica_2: 4 });
    expect(of("replicaCircuitState")).toEqual({ replica_1: 0, replica_2: 2 });
    expect(of("healthyReplicas")).toEqual({ main: 2 });

    // Gauges follow the state: the next publish sets the new values.
    r2.breaker!.closeManually();
    pool("r1").replayLsn = "0/1100";
    await router.lagMonitor.sampleAll();
    sets.length = 0;
    publisher.publish();
    expect(of("replicaLagBytes")).toEqual({ replica_1: 0, replica_2: 4096 });
    expect(of("replicaCircuitState")).toEqual({ replica_1: 0, replica_2: 0 });
    await router.close();
  });

  it("does not set a lag gauge while the lag is unknown", async () => {
    const { router, metrics, pool } = await routerWithMetrics();
    pool("r1").down = true;
    await router.lagMonitor.sampleAll();
    const { sink, sets } = recordingSink();
    new MetricsPublisher(metrics, sink).publish();
    const lagged = sets
      .filter((s) => s.metric === "replicaLagSeconds")
      .map((s) => s.labels);
    expect(lagged).toEqual([{ replica: "replica_2" }]);
    await router.close();
  });
});

describe("read failures through a real ReplicaRouter", () => {
  it("counts a replica's node failure as retried, the primary's as failed, and caller errors not at all", async () => {
    const { router, metrics, read, pool } = await routerWithMetrics();
    const [r1, r2] = router.clusters[0]!.replicas;
    pool("r1").down = true;
    for (let i = 0; i < 4; i++) await read();
    expect(r1!.failures).toBeGreaterThan(0);
    expect(metrics.snapshot().readFailures).toEqual([
      { node: "replica_1", outcome: "retried", count: r1!.failures },
    ]);

    pool("r2").down = true;
    pool("primary").down = true;
    await expect(read()).rejects.toBeInstanceOf(NodeUnavailableError);
    const failures = metrics.snapshot().readFailures;
    expect(failures).toContainEqual({
      node: "primary",
      outcome: "failed",
      count: 1,
    });
    for (const r of [r1!, r2!]) {
      const retried = failures.find((f) => f.node === r.name);
      expect(retried?.count ?? 0).toBe(r.failures);
    }
    expect(
      failures.every(
        (f) => (f.node === "primary") === (f.outcome === "failed"),
      ),
    ).toBe(true);

    const before = metrics.snapshot().readFailures;
    for (const host of ["r1", "r2", "primary"]) {
      pool(host).down = false;
      pool(host).behaviour = () => {
        throw Object.assign(new Error("syntax error"), { code: "42601" });
      };
    }
    await expect(read()).rejects.toMatchObject({ code: "42601" });
    expect(metrics.snapshot().readFailures).toEqual(before);

    const { sink, increments } = recordingSink();
    new MetricsPublisher(metrics, sink).publish();
    expect(
      increments.filter((i) => i.metric === "readFailures"),
    ).toContainEqual({
      metric: "readFailures",
      labels: { node: "primary", outcome: "failed" },
      v: 1,
    });
    await router.close();
  });

  it("does not report a write's primary failure as a failed read", async () => {
    const { router, metrics, pool } = await routerWithMetrics();
    pool("primary").down = true;
    await expect(
      router.getWriteConnection().exec`UPDATE t SET x = 1`,
    ).rejects.toBeInstanceOf(NodeUnavailableError);
    expect(metrics.snapshot().readFailures).toEqual([]);
    await router.close();
  });
});

describe("MetricsPublisher lifecycle", () => {
  it("start and stop are idempotent and leave no timer behind", () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const metrics = new RouterMetrics({ defaultMetrics: false });
    const { sink, increments } = recordingSink();
    const publisher = new MetricsPublisher(metrics, sink);
    publisher.start(1_000);
    publisher.start(1_000);
    expect(vi.getTimerCount()).toBe(1);
    metrics.onRoute(node("replica_1"), "", "replica");
    vi.advanceTimersByTime(1_000);
    expect(increments).toHaveLength(1);
    publisher.stop();
    publisher.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(publisher.started).toBe(false);
    metrics.onRoute(node("replica_1"), "", "replica");
    vi.advanceTimersByTime(5_000);
    expect(increments).toHaveLength(1);
    // Restartable after stop.
    publisher.start(1_000);
    vi.advanceTimersByTime(1_000);
    expect(increments).toHaveLength(2);
    publisher.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never keeps the process alive (the timer is unref'd)", () => {
    const timeouts = () =>
      process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timeouts();
    const { sink } = recordingSink();
    const publisher = new MetricsPublisher(
      new RouterMetrics({ defaultMetrics: false }),
      sink,
    );
    publisher.start(60_000);
    try {
      expect(publisher.started).toBe(true);
      expect(timeouts()).toBe(before);
    } finally {
      publisher.stop();
    }
  });
});

describe("encore/metrics.ts (the Encore edge file, encore.dev/metrics mocked)", () => {
  it("declares the metrics by literal name and publishes to them", async () => {
    // A specifier tsc does not follow: the core type-check (tsconfig.core.json,
    // which includes test/) must not pull in Encore's sources.
    const edgeFile = "../../backend/database/encore/metrics";
    const { startEncoreMetrics } = (await import(
      /* @vite-ignore */ edgeFile
    )) as {
      startEncoreMetrics(
        m: RouterMetrics,
        intervalMs?: number,
      ): MetricsPublisher;
    };
    expect(encore.declared).toEqual([
      { kind: "CounterGroup", name: "db_reads_total" },
      { kind: "CounterGroup", name: "db_read_failures_total" },
      { kind: "GaugeGroup", name: "db_replica_lag_seconds" },
      { kind: "GaugeGroup", name: "db_replica_lag_bytes" },
      { kind: "GaugeGroup", name: "db_replica_circuit_state" },
      { kind: "GaugeGroup", name: "db_healthy_replicas" },
      { kind: "CounterGroup", name: "db_cache_requests_total" },
      { kind: "Counter", name: "db_cache_invalidations_total" },
    ]);

    const { router, metrics, read, pool } = await routerWithMetrics();
    const publisher = startEncoreMetrics(metrics);
    try {
      // One publisher per RouterMetrics, so nothing is pushed twice.
      expect(startEncoreMetrics(metrics)).toBe(publisher);
      expect(publisher.started).toBe(true);
      pool("r1").down = true;
      pool("r2").down = true;
      await read();
      publisher.publish();
      const u = encore.updates;
      // Both replicas failed: the read ended on the primary.
      const primaryReads = u.filter(
        (x) =>
          x.name === "db_reads_total" &&
          (x.labels as { node: string }).node === "primary",
      );
      expect(primaryReads).toEqual([
        {
          name: "db_reads_total",
          labels: { node: "primary", reason: expect.any(String) },
          op: "increment",
          v: 1,
        },
      ]);
      expect(
        u.filter((x) => x.name === "db_read_failures_total"),
      ).not.toHaveLength(0);
      expect(
        u.every(
          (x) =>
            x.name !== "db_read_failures_total" ||
            (x.op === "increment" &&
              (x.labels as { outcome: string }).outcome === "retried"),
        ),
      ).toBe(true);
      expect(u).toContainEqual({
        name: "db_replica_circuit_state",
        labels: { replica: "replica_1" },
        op: "set",
        v: 0,
      });
      expect(u).toContainEqual({
        name: "db_healthy_replicas",
        labels: { cluster: "main" },
        op: "set",
        v: expect.any(Number),
      });
      expect(u.some((x) => x.name === "db_replica_lag_seconds")).toBe(true);
      expect(u.some((x) => x.name === "db_replica_lag_bytes")).toBe(true);
    } finally {
      publisher.stop();
      await router.close();
    }
  });
});

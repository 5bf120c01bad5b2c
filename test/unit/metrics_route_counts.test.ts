/** RouteCounts counts every (node, endpoint, reason) on its own, whatever the order reads come in. */
import { describe, expect, it } from "vitest";
import { RouteCounts } from "../../backend/database/metrics/route_counts";
import type { DbNode } from "../../backend/database/router/nodes/db_node";

const node = (name: string) => ({ name }) as DbNode;

describe("RouteCounts", () => {
  it("counts repeats and alternations alike, per node, endpoint and reason", () => {
    const counts = new RouteCounts();
    const a = node("replica_1");
    const b = node("replica_2");
    for (let i = 0; i < 5; i++) counts.add(a, "finance.list", "replica");
    for (let i = 0; i < 3; i++) {
      counts.add(a, "finance.get", "replica");
      counts.add(b, "finance.get", "replica");
      counts.add(a, "finance.get", "hedge");
      counts.add(a, "finance.list", "replica");
    }
    counts.add(a, "", "strong");
    const series = [...counts.series()].map(
      (s) => `${s.node.name} ${s.endpoint} ${s.reason} ${s.count}`,
    );
    expect(series.sort()).toEqual(
      [
        "replica_1 finance.list replica 8",
        "replica_1 finance.get replica 3",
        "replica_1 finance.get hedge 3",
        "replica_1  strong 1",
        "replica_2 finance.get replica 3",
      ].sort(),
    );
    expect(
      counts
        .byNodeAndReason()
        .map((r) => `${r.node} ${r.reason} ${r.count}`)
        .sort(),
    ).toEqual(
      [
        "replica_1 replica 11",
        "replica_1 hedge 3",
        "replica_1 strong 1",
        "replica_2 replica 3",
      ].sort(),
    );
  });
});

import { describe, expect, it } from "vitest";
import { LeastConnectionsSelector } from "../../backend/database/router/selection/least_connections_selector";
import { LowestLagSelector } from "../../backend/database/router/selection/lowest_lag_selector";
import type {
  ReplicaSelector,
  SelectableNode,
} from "../../backend/database/router/selection/replica_selector";
import { RoundRobinSelector } from "../../backend/database/router/selection/round_robin_selector";
import { WeightedSelector } from "../../backend/database/router/selection/weighted_selector";

const node = (
  name: string,
  extra: Partial<SelectableNode> = {},
): SelectableNode => ({
  name,
  weight: 1,
  inFlight: 0,
  lagBytes: 0,
  ...extra,
});

const count = (
  selector: ReplicaSelector,
  nodes: SelectableNode[],
  n: number,
) => {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const picked = selector.pick(nodes)!;
    counts.set(picked.name, (counts.get(picked.name) ?? 0) + 1);
  }
  return counts;
};

// The contract every selector keeps, run against each implementation.
describe.each([
  ["round-robin", () => new RoundRobinSelector()],
  ["weighted", () => new WeightedSelector()],
  ["least-connections", () => new LeastConnectionsSelector()],
  ["lowest-lag", () => new LowestLagSelector()],
] as const)("%s selector contract", (_name, make) => {
  it("returns undefined for no candidates", () => {
    expect(make().pick([])).toBeUndefined();
  });

  it("returns the only candidate", () => {
    const only = node("a");
    expect(make().pick([only])).toBe(only);
  });

  it("always returns one of the candidates", () => {
    const s = make();
    const nodes = [node("a"), node("b"), node("c")];
    for (let i = 0; i < 100; i++) expect(nodes).toContain(s.pick(nodes));
  });

  it("shares equal, idle, caught-up candidates evenly", () => {
    const counts = count(make(), [node("a"), node("b")], 1000);
    expect(counts.get("a")).toBe(500);
    expect(counts.get("b")).toBe(500);
  });

  it("copes with the candidate list changing between picks", () => {
    const s = make();
    const a = node("a");
    const b = node("b");
    expect([a, b]).toContain(s.pick([a, b]));
    expect(s.pick([b])).toBe(b);
    expect([a, b]).toContain(s.pick([a, b]));
  });
});

describe("strategy specifics", () => {
  it("weighted 3:1 gives exactly 3 and 1 in every window of 4, with no bursts", () => {
    const s = new WeightedSelector();
    const nodes = [node("a", { weight: 3 }), node("b", { weight: 1 })];
    const order = Array.from({ length: 8 }, () => s.pick(nodes)!.name).join("");
    expect(order).toBe("aabaaaba");
    const counts = count(s, nodes, 1000);
    expect(counts.get("a")).toBe(750);
  });

  it("least-connections prefers the node with fewer statements in flight", () => {
    const s = new LeastConnectionsSelector();
    const busy = node("busy", { inFlight: 5 });
    const idle = node("idle", { inFlight: 1 });
    for (let i = 0; i < 10; i++) expect(s.pick([busy, idle])).toBe(idle);
  });

  it("lowest-lag prefers the replica furthest along and ranks unknown lag last", () => {
    const s = new LowestLagSelector();
    const behind = node("behind", { lagBytes: 10_000 });
    const close = node("close", { lagBytes: 16 });
    const unknown = node("unknown", { lagBytes: null });
    for (let i = 0; i < 10; i++)
      expect(s.pick([behind, unknown, close])).toBe(close);
    expect(s.pick([unknown, behind])).toBe(behind);
  });
});

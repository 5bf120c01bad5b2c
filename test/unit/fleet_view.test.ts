import { describe, expect, it } from "vitest";
import {
  buildFleetView,
  type InstanceView,
  type ReplicaView,
} from "../../backend/database/control/fleet_view";
import type { HeartbeatRow } from "../../backend/database/control/control_store";
import {
  keyText,
  parseEntry,
  parseKey,
} from "../../backend/database/control/control_state";

const replica = (
  name: string,
  serving: boolean,
  state = serving ? "healthy" : "down",
): ReplicaView => ({
  cluster: "main",
  name,
  state,
  circuit: serving ? "closed" : "open",
  serving,
  lagSeconds: 0,
  lagBytes: 0,
  reads: 1,
});
const view = (replicas: ReplicaView[], appliedVersion = 3): InstanceView => ({
  replicas,
  control: { appliedVersion, pending: [] },
});
const row = (id: string, v: unknown, ageMs = 100): HeartbeatRow => ({
  instanceId: id,
  serviceVersion: "1.0.0",
  startedAt: "2026-12-02T08:00:00.000Z",
  heartbeatAt: "2026-12-02T08:10:00.000Z",
  ageMs,
  view: v,
});
const build = (selfView: InstanceView, rows: HeartbeatRow[]) =>
  buildFleetView({
    fleet: "default",
    mode: "database",
    selfId: "a",
    selfBeat: {
      instanceId: "a",
      serviceVersion: "1.0.0",
      startedAt: "2026-12-02T08:00:00.000Z",
    },
    selfView,
    rows,
    storedVersion: 3,
    timeoutMs: 1_000,
  });

describe("fleet view", () => {
  it("agrees when every live instance serves the same replicas", () => {
    const v = view([replica("replica_1", true), replica("replica_2", false)]);
    const f = build(v, [row("a", v), row("b", v)]);
    expect(f.instances.map((i) => [i.instanceId, i.status, i.self])).toEqual([
      ["a", "live", true],
      ["b", "live", false],
    ]);
    // replica_2 is down everywhere: that is an outage, not a disagreement.
    expect(f.disagreements).toEqual([]);
    expect(f.replicas[1]).toMatchObject({
      name: "replica_2",
      servingOn: [],
      notServingOn: [
        { instanceId: "a", state: "down", circuit: "open" },
        { instanceId: "b", state: "down", circuit: "open" },
      ],
    });
  });

  it("flags a replica one live instance serves and another does not, or lacks", () => {
    const f = build(
      view([replica("replica_1", true), replica("replica_2", true)]),
      [
        row("b", view([replica("replica_1", false)])),
        row(
          "c",
          view([replica("replica_1", true), replica("replica_2", true)]),
        ),
      ],
    );
    expect(f.disagreements).toEqual(["main:replica_1", "main:replica_2"]);
    expect(f.replicas[0]).toMatchObject({
      servingOn: ["a", "c"],
      notServingOn: [{ instanceId: "b" }],
      missingOn: [],
    });
    expect(f.replicas[1]).toMatchObject({ missingOn: ["b"] });
  });

  it("a gone instance is listed but takes no part in the check; this instance's own heartbeat row is replaced by its live view", () => {
    const f = build(view([replica("replica_1", true)]), [
      row("a", view([replica("replica_1", false)]), 5_000),
      row("z", view([replica("replica_1", false)]), 1_001),
      row("y", { something: "from another version" }),
    ]);
    expect(f.instances.map((i) => [i.instanceId, i.status])).toEqual([
      ["a", "live"],
      ["y", "live"],
      ["z", "gone"],
    ]);
    expect(f.disagreements).toEqual([]);
    // A view this version cannot read shows as unknown, not as "has no replicas".
    expect(f.instances[1]).toMatchObject({
      appliedVersion: null,
      replicas: [],
    });
  });

  it("marks an instance that has not applied the stored version as behind", () => {
    const f = build(view([], 3), [row("b", view([], 2))]);
    expect(f.instances.map((i) => i.behind)).toEqual([false, true]);
  });
});

describe("control state keys and values", () => {
  it("round-trips every kind of key", () => {
    for (const key of [
      { kind: "reads" },
      { kind: "cache" },
      { kind: "reads_endpoint", endpoint: "finance.sumRevenues" },
      { kind: "cache_endpoint", endpoint: "invoices.listInvoices" },
      { kind: "circuit", cluster: "main", name: "replica_2" },
      { kind: "replica", cluster: "shard_b", name: "replica_1" },
    ] as const)
      expect(parseKey(keyText(key))).toEqual(key);
    for (const bad of [
      "",
      "reads:",
      "circuit:main",
      "replica::x",
      "x:y:z",
      "a:b:c:d",
    ])
      expect(parseKey(bad), bad).toBeNull();
  });

  it("skips a row it does not understand instead of applying part of it", () => {
    const base = { version: 1, connectionString: null };
    expect(
      parseEntry({ ...base, key: "reads", value: { enabled: "yes" } }),
    ).toEqual({
      skipped: "value not understood",
    });
    expect(parseEntry({ ...base, key: "future:thing", value: {} })).toEqual({
      skipped: "unknown key",
    });
    expect(
      parseEntry({
        ...base,
        key: "replica:main:replica_4",
        value: { present: true },
      }),
    ).toEqual({ skipped: "added replica without a connection string" });
    expect(
      parseEntry({
        ...base,
        key: "circuit:main:replica_1",
        value: { open: true },
      }),
    ).toEqual({
      entry: {
        kind: "circuit",
        key: { kind: "circuit", cluster: "main", name: "replica_1" },
        value: { open: true },
        version: 1,
      },
    });
  });
});

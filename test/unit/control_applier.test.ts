/**
 * The control applier against a stand-in router: settings applied once per
 * version, a replica add in the background never overtaken by a newer
 * setting of the same replica, and the cache switch awaited in order.
 */
import { describe, expect, it } from "vitest";
import { ControlApplier } from "../../backend/database/control/control_applier";
import type { ControlEntry } from "../../backend/database/control/control_state";
import type { RouterRoles } from "../../backend/database/router/roles";
import { silentLogger } from "../../backend/database/router/support/logger";

interface FakeNode {
  name: string;
  address: string;
  breaker: { state: { name: string; manual?: boolean } };
}

/** A router with one cluster whose adds wait until `release()` is called, then succeed or fail. */
function fakeRouter(addFails = false) {
  const replicas: FakeNode[] = [];
  const waiting: (() => void)[] = [];
  const cacheCalls: boolean[] = [];
  const router = {
    clusters: [{ name: "main", replicas }],
    setReplicaReads() {},
    setEndpointReplicaReads() {},
    cacheEnabled: false,
    async setCache(on: boolean) {
      cacheCalls.push(on);
      await new Promise((r) => setTimeout(r, 20));
      router.cacheEnabled = on;
    },
    setEndpointCache() {},
    async addReplica(url: string, o: { name: string }) {
      await new Promise<void>((r) => waiting.push(r));
      if (addFails) throw new Error("connectionString: unreachable: timeout");
      replicas.push({
        name: o.name,
        address: url.replace("postgres://x@", ""),
        breaker: { state: { name: "closed" } },
      });
    },
    async removeReplica(name: string) {
      const i = replicas.findIndex((n) => n.name === name);
      if (i >= 0) replicas.splice(i, 1);
    },
  };
  const release = () => {
    for (const r of waiting.splice(0)) r();
  };
  return { router, replicas, release, cacheCalls };
}

const replica = (version: number, present: boolean): ControlEntry => ({
  kind: "replica",
  key: { kind: "replica", cluster: "main", name: "replica_5" },
  value: { present },
  version,
  connectionString: present ? "postgres://x@10.0.0.5:5432/app" : null,
});
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("ControlApplier", () => {
  it.each([
    ["succeeds", false],
    ["fails", true],
  ])(
    "a removal stored while the add is still verifying wins when the add %s: no node, nothing pending",
    async (_, fails) => {
      const f = fakeRouter(fails);
      let again: () => void = () => {};
      const applier = new ControlApplier(
        f.router as unknown as RouterRoles,
        silentLogger,
        () => again(),
        () => false,
      );
      await applier.applyAll([replica(1, true)]);
      // The tombstone arrives while the add of version 1 is in flight.
      await applier.applyAll([replica(2, false)]);
      again = () => void applier.applyAll([replica(2, false)]);
      f.release();
      await applier.idle();
      await tick();
      await applier.idle();
      expect(f.replicas).toEqual([]);
      expect(applier.pendingList()).toEqual([]);
    },
  );

  it("the cache switch is applied in order: off stored while on is being applied stays off", async () => {
    const f = fakeRouter();
    const applier = new ControlApplier(
      f.router as unknown as RouterRoles,
      silentLogger,
      () => {},
      () => false,
    );
    const on: ControlEntry = {
      kind: "switch",
      key: { kind: "cache" },
      value: { enabled: true },
      version: 1,
    };
    const off: ControlEntry = { ...on, value: { enabled: false }, version: 2 };
    await applier.applyAll([on]);
    await applier.applyAll([off]);
    expect(f.cacheCalls).toEqual([true, false]);
    expect(f.router.cacheEnabled).toBe(false);
  });
});

/**
 * createQueryCache wires the shared tier's reconnections to the cache: a
 * Redis that comes back may have restored older generations from a
 * snapshot, so the in-process copies are dropped and every epoch bumped.
 */
import { describe, expect, it } from "vitest";
import { clusterGenKey } from "../../backend/database/router/cache/cache_keys";
import { createQueryCache } from "../../backend/database/router/cache/create_query_cache";
import type { SharedStore } from "../../backend/database/router/cache/shared_store";
import type { CacheConfig } from "../../backend/database/router/config/config";
import { EVENTUAL } from "../../backend/database/router/consistency/consistency";
import { ManualClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";

const CONFIG: CacheConfig = {
  enabled: true,
  maxBytes: 1 << 20,
  maxEntryBytes: 1 << 16,
  localTtlMs: 5_000,
  timeoutMs: 50,
  disabledEndpoints: [],
};

/** An in-memory SharedStore that can announce a reconnection. */
class FakeStore implements SharedStore {
  readonly name = "fake";
  readonly values = new Map<string, string>();
  readonly bumps: string[][] = [];
  private readonly listeners = new Set<() => void>();

  async getEntry(key: string) {
    return this.values.get(key);
  }
  async setEntry(key: string, value: string) {
    this.values.set(key, value);
  }
  async getGenerations(keys: readonly string[]) {
    return keys.map((k) => Number(this.values.get(k) ?? 0));
  }
  async bumpGenerations(keys: readonly string[]) {
    this.bumps.push([...keys]);
    return keys.map((k) => {
      const n = Number(this.values.get(k) ?? 0) + 1;
      this.values.set(k, String(n));
      return n;
    });
  }
  async setFences(fences: ReadonlyArray<readonly [string, string]>) {
    for (const [k, v] of fences) if (!this.values.has(k)) this.values.set(k, v);
  }
  async getFences(keys: readonly string[]) {
    return keys.map((k) => this.values.get(k));
  }
  onReconnect(listener: () => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  reconnect() {
    for (const l of this.listeners) l();
  }
  async close() {}
}

describe("createQueryCache", () => {
  it("on a reconnect, drops the in-process copies and bumps every cluster's epoch", async () => {
    const store = new FakeStore();
    const cache = createQueryCache(CONFIG, {
      sharedStore: store,
      clock: new ManualClock(),
      logger: silentLogger,
      observer: {},
      clusters: () => ["main", "eu"],
      currentLsn: async () => 100n,
    });
    let fills = 0;
    const read = () =>
      cache.read(
        { namespace: "n", key: [1], tables: ["t"], ttlMs: 60_000 },
        { cluster: "main", tables: ["t"], orgId: 1 },
        EVENTUAL,
        "e",
        async (p) => {
          p.note(100n, 0);
          return ++fills;
        },
      );
    expect(await read()).toBe(1);
    await new Promise((r) => setImmediate(r)); // the background store
    expect(await read()).toBe(1);
    store.reconnect();
    await new Promise((r) => setImmediate(r));
    expect(store.bumps).toContainEqual([
      clusterGenKey("main"),
      clusterGenKey("eu"),
    ]);
    expect(cache.status().tiers[0]?.entries).toBe(0);
    // The entry in the shared tier recorded the old epoch: not used again.
    expect(await read()).toBe(2);
  });
});

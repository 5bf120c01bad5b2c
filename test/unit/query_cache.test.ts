/**
 * QueryCache without a database: a manual clock, a fake primary position
 * (what `currentLsn` answers) and, for the shared tier, an in-memory
 * SharedTier several caches can share like instances sharing one Redis.
 * Covers the outcome each consistency level gets, invalidation by scope,
 * a write racing a fill, fences, what is never stored, the run-time
 * switches, the two tiers, LocalGenerations' floor and status().
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CacheConfig } from "../../backend/database/router/config/config";
import {
  EVENTUAL,
  STRONG,
  type Consistency,
} from "../../backend/database/router/consistency/consistency";
import {
  entryUsable,
  type CacheEntry,
} from "../../backend/database/router/cache/cache_entry";
import type {
  CachedRead,
  CacheObserver,
  CacheOutcome,
  FillPosition,
  SharedTier,
  SkipReason,
} from "../../backend/database/router/cache/cache_types";
import { createQueryCache } from "../../backend/database/router/cache/create_query_cache";
import { LocalGenerations } from "../../backend/database/router/cache/memory_store";
import { QueryCache } from "../../backend/database/router/cache/query_cache";
import type { SharedStore } from "../../backend/database/router/cache/shared_store";
import { ManualClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";

const CONFIG: CacheConfig = {
  enabled: true,
  maxBytes: 1024 * 1024,
  maxEntryBytes: 16 * 1024,
  localTtlMs: 5_000,
  timeoutMs: 25,
  disabledEndpoints: [],
};

/**
 * An in-memory shared tier: entries expire on the manual clock, generations
 * are per-key counters from 0 (as in Redis), fences are set once. Answers
 * "unavailable" (undefined / false) on demand, as GuardedStore does.
 */
class FakeShared implements SharedTier {
  readonly name = "redis";
  /** Every call answers unavailable. */
  down = false;
  generationsDown = false;
  fencesDown = false;
  setEntryDown = false;
  breaker = "closed";
  invalidationLost = false;
  lastError: string | null = null;
  readonly entries = new Map<string, { value: string; expiresAtMs: number }>();
  readonly generations = new Map<string, number>();
  readonly fences = new Map<string, string>();
  readonly entryWrites: { key: string; ttlMs: number }[] = [];
  entryReads = 0;

  constructor(private readonly clock: ManualClock) {}

  available(): boolean {
    return !this.down;
  }
  async getEntry(key: string): Promise<string | undefined> {
    this.entryReads++;
    if (this.down) return undefined;
    const e = this.entries.get(key);
    return e !== undefined && this.clock.now() < e.expiresAtMs
      ? e.value
      : undefined;
  }
  async setEntry(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.down || this.setEntryDown) return false;
    this.entryWrites.push({ key, ttlMs });
    this.entries.set(key, { value, expiresAtMs: this.clock.now() + ttlMs });
    return true;
  }
  async getGenerations(keys: readonly string[]) {
    if (this.down || this.generationsDown) return undefined;
    return keys.map((k) => this.generations.get(k) ?? 0);
  }
  async bumpGenerations(keys: readonly string[]) {
    if (this.down) return undefined;
    return keys.map((k) => {
      const next = (this.generations.get(k) ?? 0) + 1;
      this.generations.set(k, next);
      return next;
    });
  }
  async setFences(fences: ReadonlyArray<readonly [string, string]>) {
    if (this.down) return false;
    for (const [k, v] of fences) if (!this.fences.has(k)) this.fences.set(k, v);
    return true;
  }
  async getFences(keys: readonly string[]) {
    if (this.down || this.fencesDown) return undefined;
    return keys.map((k) => this.fences.get(k));
  }
  state() {
    return {
      name: this.name,
      breaker: this.breaker,
      invalidationLost: this.invalidationLost,
      lastError: this.lastError,
    };
  }
  async close(): Promise<void> {}
}

class Recorder implements CacheObserver {
  readonly reads: { endpoint: string; outcome: CacheOutcome }[] = [];
  readonly skips: SkipReason[] = [];
  readonly invalidations: { keys: number; shared: boolean }[] = [];
  onRead(endpoint: string, outcome: CacheOutcome): void {
    this.reads.push({ endpoint, outcome });
  }
  onSkip(reason: SkipReason): void {
    this.skips.push(reason);
  }
  onInvalidate(keys: number, shared: boolean): void {
    this.invalidations.push({ keys, shared });
  }
}

interface ReadOptions {
  orgId?: number;
  allOrgs?: boolean;
  cluster?: string;
  tables?: string[];
  namespace?: string;
  /** Key parts; by default the org (or "all"), so orgs never share an entry. */
  key?: unknown[];
  ttlMs?: number;
  consistency?: Consistency;
  endpoint?: string;
  /** What the fill returns; by default `value <n>`, n counting fills. */
  value?: unknown;
  /** The floor the fill reports; by default the primary's position; null = unknown. */
  floor?: bigint | null;
  /** The fill's as-of time; by default now. */
  asOfMs?: number;
}

/** A cache over a fake primary whose position is `primary.lsn`. */
function setup(
  options: {
    config?: Partial<CacheConfig>;
    shared?: FakeShared;
    clock?: ManualClock;
  } = {},
) {
  const clock = options.clock ?? new ManualClock();
  const observer = new Recorder();
  const primary = { lsn: 1_000n, known: true, fails: false };
  const cache = new QueryCache(
    { ...CONFIG, ...options.config },
    {
      shared: options.shared ?? null,
      clock,
      logger: silentLogger,
      observer,
      clusters: () => ["main", "eu"],
      currentLsn: async () => {
        if (primary.fails) throw new Error("primary down");
        return primary.known ? primary.lsn : null;
      },
    },
  );
  let fills = 0;
  async function read(o: ReadOptions = {}) {
    const orgId = o.orgId ?? 1;
    const tables = o.tables ?? ["orders"];
    const spec: CachedRead = {
      namespace: o.namespace ?? "test.sum",
      key: o.key ?? [o.allOrgs === true ? "all" : orgId],
      tables,
      ttlMs: o.ttlMs ?? 60_000,
      allOrgs: o.allOrgs === true,
    };
    const before = fills;
    let onHitCalls = 0;
    const value = await cache.read(
      spec,
      {
        cluster: o.cluster ?? "main",
        tables,
        orgId: o.allOrgs === true ? undefined : orgId,
      },
      o.consistency ?? EVENTUAL,
      o.endpoint ?? "test.endpoint",
      async (position) => {
        fills++;
        position.note(
          o.floor === undefined ? primary.lsn : o.floor,
          o.asOfMs ?? clock.now(),
        );
        return o.value ?? `value ${fills}`;
      },
      () => onHitCalls++,
    );
    return {
      value,
      filled: fills > before,
      outcome: observer.reads.at(-1)?.outcome,
      onHitCalls,
    };
  }
  return { cache, clock, observer, primary, read };
}

const token = (lsn: bigint, cluster = "main"): Consistency => ({
  level: "read_your_writes",
  token: { cluster, lsn },
});
const bounded = (maxLagSeconds?: number, maxLagBytes?: number) =>
  ({ level: "bounded", maxLagSeconds, maxLagBytes }) as Consistency;

/** A promise and its resolver. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

// lru-cache reuses one reading of its clock for `ttlResolution` (1 ms) of
// real time, cleared by a setTimeout. Faking setTimeout lets each test
// expire that reading explicitly after moving the manual clock.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Moves the manual clock and lets the LRU see the new time. */
function elapse(clock: ManualClock, ms: number): void {
  clock.advance(ms);
  vi.advanceTimersByTime(1);
}

describe("outcomes reported to the observer", () => {
  it("a miss fills and stores; the next read is a memory hit that does not fill", async () => {
    const s = setup();
    const first = await s.read();
    expect(first).toMatchObject({
      value: "value 1",
      filled: true,
      outcome: "miss",
      onHitCalls: 0,
    });
    const second = await s.read();
    expect(second).toMatchObject({
      value: "value 1",
      filled: false,
      outcome: "hit_memory",
      onHitCalls: 1,
    });
    expect(s.observer.reads).toEqual([
      { endpoint: "test.endpoint", outcome: "miss" },
      { endpoint: "test.endpoint", outcome: "hit_memory" },
    ]);
    expect(s.observer.skips).toEqual([]);
  });

  it("strong bypasses: it neither uses an entry nor stores its fill", async () => {
    const s = setup();
    const strongFirst = await s.read({ consistency: STRONG });
    expect(strongFirst).toMatchObject({
      filled: true,
      outcome: "bypass_strong",
      onHitCalls: 0,
    });
    // Nothing was stored by the strong read.
    expect(await s.read()).toMatchObject({ value: "value 2", outcome: "miss" });
    const strong = await s.read({ consistency: STRONG });
    expect(strong).toMatchObject({
      value: "value 3",
      filled: true,
      outcome: "bypass_strong",
    });
    expect(await s.read()).toMatchObject({
      value: "value 2",
      outcome: "hit_memory",
    });
  });
});

describe("read-your-writes", () => {
  it("uses an entry only when its floor covers the token, on the same cluster; fills otherwise", async () => {
    const s = setup();
    await s.read({ floor: 5_000n });
    expect(await s.read({ consistency: token(5_000n) })).toMatchObject({
      value: "value 1",
      outcome: "hit_memory",
    });
    expect(await s.read({ consistency: token(4_999n) })).toMatchObject({
      value: "value 1",
      outcome: "hit_memory",
    });
    // The same position of another cluster says nothing about this data.
    expect(
      await s.read({ consistency: token(5_000n, "eu"), floor: 5_000n }),
    ).toMatchObject({ value: "value 2", filled: true, outcome: "miss" });
    expect(
      await s.read({ consistency: token(5_001n), floor: 5_001n }),
    ).toMatchObject({ value: "value 3", filled: true, outcome: "miss" });
    // That fill covered the token: it serves the next read with it.
    expect(await s.read({ consistency: token(5_001n) })).toMatchObject({
      value: "value 3",
      outcome: "hit_memory",
    });
  });

  it("an entry's floor is the lowest over the fill's statements", async () => {
    const s = setup();
    await s.cache.read(
      { namespace: "n", key: [1], tables: ["orders"], ttlMs: 60_000 },
      { cluster: "main", tables: ["orders"], orgId: 1 },
      EVENTUAL,
      "e",
      async (position: FillPosition) => {
        position.note(3_000n, s.clock.now());
        position.note(2_000n, s.clock.now());
        position.note(2_500n, s.clock.now());
        return "v";
      },
    );
    const tokenRead = (lsn: bigint) =>
      s.cache.read(
        { namespace: "n", key: [1], tables: ["orders"], ttlMs: 60_000 },
        { cluster: "main", tables: ["orders"], orgId: 1 },
        token(lsn),
        "e",
        async () => "filled",
      );
    expect(await tokenRead(2_000n)).toBe("v");
    expect(await tokenRead(2_001n)).toBe("filled");
  });
});

describe("bounded", () => {
  it("uses an entry only within maxLagSeconds of its as-of time", async () => {
    const s = setup();
    await s.read();
    elapse(s.clock, 5_000);
    expect(await s.read({ consistency: bounded(5) })).toMatchObject({
      value: "value 1",
      outcome: "hit_memory",
    });
    elapse(s.clock, 1);
    expect(await s.read({ consistency: bounded(10) })).toMatchObject({
      value: "value 1",
      outcome: "hit_memory",
    });
    expect(await s.read({ consistency: bounded(5) })).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
  });

  it("the as-of time is the oldest over the fill's statements", async () => {
    const s = setup();
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    await s.cache.read(spec, scope, EVENTUAL, "e", async (position) => {
      position.note(1_000n, s.clock.now());
      position.note(1_000n, s.clock.now() - 3_000);
      return "v";
    });
    const read = (seconds: number) =>
      s.cache.read(spec, scope, bounded(seconds), "e", async () => "filled");
    expect(await read(3)).toBe("v");
    expect(await read(2)).toBe("filled");
  });

  it("never uses an entry for a byte bound", async () => {
    const s = setup();
    await s.read();
    expect(
      await s.read({ consistency: bounded(undefined, 1e12) }),
    ).toMatchObject({ filled: true, outcome: "miss" });
    expect(await s.read({ consistency: bounded(3_600, 1e12) })).toMatchObject({
      filled: true,
      outcome: "miss",
    });
  });
});

describe("eventual", () => {
  it("uses an entry until its TTL, on the clock the cache was given", async () => {
    const s = setup();
    await s.read({ ttlMs: 10_000 });
    elapse(s.clock, 9_999);
    expect(await s.read()).toMatchObject({
      value: "value 1",
      outcome: "hit_memory",
    });
    elapse(s.clock, 2);
    expect(await s.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
  });

  it("expiry follows the injected clock at once, without real time passing", async () => {
    const s = setup();
    await s.read({ ttlMs: 10_000 });
    s.clock.advance(5_000);
    expect((await s.read()).outcome).toBe("hit_memory");
    s.clock.advance(5_001);
    expect(await s.read()).toMatchObject({ filled: true, outcome: "miss" });
  });

  it("never uses an entry after a write to its scope", async () => {
    const s = setup();
    await s.read();
    await s.cache.invalidate("main", ["orders"], 1);
    expect(await s.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
    expect(await s.read()).toMatchObject({
      value: "value 2",
      outcome: "hit_memory",
    });
  });
});

describe("invalidation scopes", () => {
  const READS: Record<string, ReadOptions> = {
    orgA: { orgId: 1 },
    orgB: { orgId: 2 },
    allOrgs: { allOrgs: true },
    otherTable: { orgId: 1, tables: ["customers"], namespace: "test.c" },
    otherCluster: { orgId: 1, cluster: "eu" },
  };

  /** Fills every entry of READS, runs `write`, then says which ones refill. */
  async function refilledAfter(
    write: (cache: QueryCache) => Promise<void> | undefined,
  ): Promise<string[]> {
    const s = setup();
    for (const o of Object.values(READS)) await s.read(o);
    for (const o of Object.values(READS))
      expect((await s.read(o)).outcome).toBe("hit_memory");
    await write(s.cache);
    const refilled: string[] = [];
    for (const [name, o] of Object.entries(READS))
      if ((await s.read(o)).filled) refilled.push(name);
    return refilled;
  }

  it("a write for org A invalidates A's entry and the table-wide one, not org B's", async () => {
    expect(
      await refilledAfter((c) => c.invalidate("main", ["orders"], 1)),
    ).toEqual(["orgA", "allOrgs"]);
  });

  it("a write to the table whose org is unknown invalidates every org's entries of it", async () => {
    expect(
      await refilledAfter((c) => c.invalidate("main", ["orders"], undefined)),
    ).toEqual(["orgA", "orgB", "allOrgs"]);
  });

  it("a write to another table invalidates none of these", async () => {
    expect(
      await refilledAfter((c) => c.invalidate("main", ["invoices"], 1)),
    ).toEqual([]);
  });

  it("a write with unknown tables invalidates everything in its cluster, nothing in another", async () => {
    expect(await refilledAfter((c) => c.invalidate("main", null, 1))).toEqual([
      "orgA",
      "orgB",
      "allOrgs",
      "otherTable",
    ]);
    expect(await refilledAfter((c) => c.invalidate("eu", null, 7))).toEqual([
      "otherCluster",
    ]);
  });

  it("table names match whatever their case and schema", async () => {
    expect(
      await refilledAfter((c) => c.invalidate("main", ["Public.ORDERS"], 2)),
    ).toEqual(["orgB", "allOrgs"]);
  });

  it("a write to no table bumps nothing", async () => {
    const s = setup();
    await s.read();
    await s.cache.invalidate("main", [], 1);
    expect(s.observer.invalidations).toEqual([]);
    expect((await s.read()).outcome).toBe("hit_memory");
  });

  // One org's entry never answers another org's read, even when their key
  // parts are equal (FinanceRepository's sums and first pages put no org in
  // them) and their generations coincide: 0 for orgs never written, and on
  // the shared tier (per-key counters) for orgs written equally often.
  it.each([
    ["in-process only", false],
    ["with a shared tier", true],
  ])(
    "org 2 is never served org 1's entry for equal key parts (%s)",
    async (_label, withShared) => {
      const clock = new ManualClock();
      const s = setup(
        withShared ? { clock, shared: new FakeShared(clock) } : { clock },
      );
      if (withShared) {
        await s.cache.invalidate("main", ["orders"], 1);
        await s.cache.invalidate("main", ["orders"], 2);
      }
      const key = ["2024-01", "paid"];
      await s.read({ orgId: 1, key, value: "org 1 sum" });
      expect(await s.read({ orgId: 2, key, value: "org 2 sum" })).toMatchObject(
        { value: "org 2 sum", outcome: "miss" },
      );
      expect(await s.read({ orgId: 1, key })).toMatchObject({
        value: "org 1 sum",
        outcome: "hit_memory",
      });
      expect(await s.read({ orgId: 2, key })).toMatchObject({
        value: "org 2 sum",
        outcome: "hit_memory",
      });
    },
  );
});

describe("a write racing a fill", () => {
  /** Starts a read whose fill waits for `answer`; resolves `started` when the fill runs. */
  function racingRead(s: ReturnType<typeof setup>, floor: bigint) {
    const started = deferred<void>();
    const answer = deferred<string>();
    const done = s.cache.read(
      { namespace: "test.sum", key: [1], tables: ["orders"], ttlMs: 60_000 },
      { cluster: "main", tables: ["orders"], orgId: 1 },
      EVENTUAL,
      "test.endpoint",
      (position) => {
        position.note(floor, s.clock.now());
        started.resolve();
        return answer.promise;
      },
    );
    return { started: started.promise, answer, done };
  }

  it("a fill that read generations before a write and stores after its invalidation is never served", async () => {
    const s = setup();
    const race = racingRead(s, 1_000n);
    await race.started;
    s.primary.lsn = 2_000n;
    await s.cache.invalidate("main", ["orders"], 1);
    race.answer.resolve("before the write");
    expect(await race.done).toBe("before the write");
    expect(await s.read()).toMatchObject({
      filled: true,
      outcome: "miss",
      value: "value 1",
    });
    expect(await s.read()).toMatchObject({
      outcome: "hit_memory",
      value: "value 1",
    });
  });

  it("the same when another instance makes the write through the shared tier", async () => {
    const clock = new ManualClock();
    const shared = new FakeShared(clock);
    const reader = setup({ clock, shared });
    const writer = setup({ clock, shared });
    const race = racingRead(reader, 1_000n);
    await race.started;
    writer.primary.lsn = 2_000n;
    await writer.cache.invalidate("main", ["orders"], 1);
    race.answer.resolve("before the write");
    expect(await race.done).toBe("before the write");
    expect(await reader.read({ floor: 2_000n })).toMatchObject({
      value: "value 1",
      outcome: "miss",
    });
    // The writer finds the reader's fresh entry, not the stale one.
    expect(await writer.read()).toMatchObject({
      value: "value 1",
      outcome: "hit_shared",
    });
  });

  it("a write asks the primary nothing; the first fill sets the fence from the position then, and is stored only if its data includes it", async () => {
    const s = setup();
    let asked = 0;
    const cache = new QueryCache(CONFIG, {
      shared: null,
      clock: s.clock,
      logger: silentLogger,
      observer: s.observer,
      clusters: () => ["main"],
      currentLsn: async () => {
        asked++;
        return 2_000n;
      },
    });
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    const fill = (floor: bigint, v: string) => async (p: FillPosition) => {
      p.note(floor, s.clock.now());
      return v;
    };
    await cache.invalidate("main", ["orders"], 1);
    expect(asked).toBe(0);
    // The write committed before 2,000; this fill's data does not include it.
    await cache.read(spec, scope, EVENTUAL, "e", fill(1_500n, "stale"));
    expect(s.observer.skips).toEqual(["behind_fence"]);
    expect(asked).toBe(1);
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "a")),
    ).toBe("a");
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "b")),
    ).toBe("a");
    expect(asked).toBe(1);
  });

  it("a fill never shares a question for the position sent before it read its generations (a write may have come between)", async () => {
    const s = setup();
    const answers: Array<ReturnType<typeof deferred<bigint>>> = [];
    const cache = new QueryCache(CONFIG, {
      shared: null,
      clock: s.clock,
      logger: silentLogger,
      observer: s.observer,
      clusters: () => ["main"],
      currentLsn: () => {
        const d = deferred<bigint>();
        answers.push(d);
        return d.promise;
      },
    });
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    const fill = (floor: bigint, v: string) => async (p: FillPosition) => {
      p.note(floor, s.clock.now());
      return v;
    };
    await cache.invalidate("main", ["orders"], 1);
    const a = cache.read(spec, scope, EVENTUAL, "e", fill(1_000n, "a"));
    await vi.waitFor(() => expect(answers).toHaveLength(1));
    // A second write commits (at 1,500) after A's question was sent.
    await cache.invalidate("main", ["orders"], 1);
    const b = cache.read(spec, scope, EVENTUAL, "e", fill(1_200n, "b"));
    const c = cache.read(spec, scope, EVENTUAL, "e", fill(1_200n, "c"));
    answers[0]!.resolve(1_000n);
    expect(await a).toBe("a");
    // B and C share the next question, sent after they read the generations.
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    answers[1]!.resolve(2_000n);
    expect([await b, await c]).toEqual(["b", "c"]);
    expect(answers).toHaveLength(2);
    // A's fill is under the generation the second write replaced; B's and C's
    // data miss that write: none of them is ever served.
    expect(s.observer.skips).toEqual(["behind_fence", "behind_fence"]);
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "d")),
    ).toBe("d");
  });

  it("a position read with the write fences its generations at once: the next fill asks the primary nothing", async () => {
    const s = setup();
    let asked = 0;
    const cache = new QueryCache(CONFIG, {
      shared: null,
      clock: s.clock,
      logger: silentLogger,
      observer: s.observer,
      clusters: () => ["main"],
      currentLsn: async () => {
        asked++;
        return 5_000n;
      },
    });
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    const fill = (floor: bigint, v: string) => async (p: FillPosition) => {
      p.note(floor, s.clock.now());
      return v;
    };
    const mark = cache.writeMark()!;
    await cache.invalidate("main", ["orders"], 1, { lsn: 2_000n, mark });
    await cache.read(spec, scope, EVENTUAL, "e", fill(1_999n, "stale"));
    expect(s.observer.skips).toEqual(["behind_fence"]);
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "a")),
    ).toBe("a");
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "b")),
    ).toBe("a");
    expect(asked).toBe(0);
  });

  it("a position read with a write does not fence a scope another write bumped after the write's mark: the fill asks", async () => {
    const s = setup();
    let asked = 0;
    const cache = new QueryCache(CONFIG, {
      shared: null,
      clock: s.clock,
      logger: silentLogger,
      observer: s.observer,
      clusters: () => ["main"],
      currentLsn: async () => {
        asked++;
        return 3_000n;
      },
    });
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    const fill = (floor: bigint, v: string) => async (p: FillPosition) => {
      p.note(floor, s.clock.now());
      return v;
    };
    // Write 1 takes its mark and reads 2,000 after its commit; write 2
    // commits at 2,500 and bumps first.
    const mark = cache.writeMark()!;
    await cache.invalidate("main", ["orders"], 1);
    await cache.invalidate("main", ["orders"], 1, { lsn: 2_000n, mark });
    await cache.read(spec, scope, EVENTUAL, "e", fill(2_000n, "misses 2"));
    expect(asked).toBe(1);
    expect(s.observer.skips).toEqual(["behind_fence"]);
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", fill(3_000n, "a")),
    ).toBe("a");
  });

  it("with a shared tier a position read with the write is not used: the first fill fences", async () => {
    const clock = new ManualClock();
    const shared = new FakeShared(clock);
    const s = setup({ clock, shared });
    expect(s.cache.writeMark()).toBeUndefined();
    await s.cache.invalidate("main", ["orders"], 1, { lsn: 10n, mark: 0 });
    expect(shared.fences.size).toBe(0);
    s.primary.lsn = 2_000n;
    await s.read({ floor: 1_999n });
    expect(s.observer.skips).toEqual(["behind_fence"]);
    expect([...shared.fences.values()]).toEqual(["2000"]);
  });
});

describe("fences", () => {
  it("a fill below the current generation's fence is not stored (behind_fence); one at it is", async () => {
    const s = setup();
    s.primary.lsn = 2_000n;
    await s.cache.invalidate("main", ["orders"], 1);
    expect(await s.read({ floor: 1_999n })).toMatchObject({ filled: true });
    expect(s.observer.skips).toEqual(["behind_fence"]);
    expect(await s.read({ floor: 2_000n })).toMatchObject({
      value: "value 2",
      filled: true,
    });
    expect(await s.read()).toMatchObject({
      value: "value 2",
      outcome: "hit_memory",
    });
    expect(s.observer.skips).toEqual(["behind_fence"]);
  });

  it("a scope never written has no fence: any known floor is stored", async () => {
    const s = setup();
    await s.read({ floor: 1n });
    expect((await s.read()).outcome).toBe("hit_memory");
  });

  it("without the primary's position no fence can be set: fills are not stored until one can read it", async () => {
    const s = setup();
    s.primary.known = false;
    await s.cache.invalidate("main", ["orders"], 1);
    await s.read({ floor: 10n ** 12n });
    expect((await s.read({ floor: 10n ** 12n })).outcome).toBe("miss");
    expect(s.observer.skips).toEqual(["behind_fence", "behind_fence"]);
    s.primary.fails = true;
    // Nothing to fail: the write asks the primary nothing.
    expect(s.cache.invalidate("main", ["orders"], 1)).toBeUndefined();
    await s.read({ floor: 10n ** 12n });
    expect(s.observer.skips).toHaveLength(3);
    s.primary.fails = false;
    s.primary.known = true;
    await s.cache.invalidate("main", ["orders"], 1);
    await s.read();
    expect((await s.read()).outcome).toBe("hit_memory");
  });
});

describe("what is never stored", () => {
  it("a fill with a statement of unknown position", async () => {
    const s = setup();
    await s.read({ floor: null });
    expect(s.observer.skips).toEqual(["unknown_position"]);
    expect(await s.read()).toMatchObject({ filled: true, outcome: "miss" });
  });

  it("a fill that ran no statement", async () => {
    const s = setup();
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    await s.cache.read(spec, scope, EVENTUAL, "e", async () => "a");
    expect(s.observer.skips).toEqual(["unknown_position"]);
    expect(
      await s.cache.read(spec, scope, EVENTUAL, "e", async () => "b"),
    ).toBe("b");
  });

  it("a value over CACHE_MAX_ENTRY_BYTES (too_large); a smaller one is stored", async () => {
    const s = setup({ config: { maxEntryBytes: 1_024 } });
    await s.read({ value: "x".repeat(1_024) });
    expect(s.observer.skips).toEqual(["too_large"]);
    expect(await s.read({ value: "y".repeat(900) })).toMatchObject({
      filled: true,
    });
    expect(await s.read()).toMatchObject({
      value: "y".repeat(900),
      outcome: "hit_memory",
    });
    expect(s.observer.skips).toEqual(["too_large"]);
  });

  it("a value JSON cannot encode (not_json)", async () => {
    const s = setup();
    await s.read({ value: { total: 10n } });
    expect(s.observer.skips).toEqual(["not_json"]);
    expect((await s.read()).filled).toBe(true);
  });

  it("a caller mutating what it got back changes nothing the next hit returns", async () => {
    const s = setup();
    const filled = (await s.read({ value: { items: [1, 2], total: 3 } }))
      .value as { items: number[]; total: number };
    filled.items.push(99);
    filled.total = -1;
    const hit = (await s.read()).value as { items: number[]; total: number };
    expect(hit).toEqual({ items: [1, 2], total: 3 });
    hit.items.length = 0;
    hit.total = 0;
    expect(await s.read()).toMatchObject({
      value: { items: [1, 2], total: 3 },
      outcome: "hit_memory",
    });
  });
});

describe("switches", () => {
  it("setEnabled(false) bypasses: no entry used, none stored", async () => {
    const s = setup();
    await s.read();
    await s.cache.setEnabled(false);
    expect(s.cache.status().enabled).toBe(false);
    expect(await s.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "bypass_off",
    });
    expect(await s.read()).toMatchObject({
      value: "value 3",
      outcome: "bypass_off",
    });
  });

  it("setEnabled(true) forgets entries stored before the cache was switched off", async () => {
    const s = setup();
    await s.read();
    await s.cache.setEnabled(false);
    // Writes made while off did not invalidate anything.
    await s.cache.setEnabled(true);
    expect(await s.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
    expect(await s.read()).toMatchObject({
      value: "value 2",
      outcome: "hit_memory",
    });
  });

  it("setEnabled(true) while on keeps its entries", async () => {
    const s = setup();
    await s.read();
    await s.cache.setEnabled(true);
    expect((await s.read()).outcome).toBe("hit_memory");
  });

  it("CACHE_ENABLED=false starts switched off", async () => {
    const s = setup({ config: { enabled: false } });
    await s.read();
    expect(await s.read()).toMatchObject({
      filled: true,
      outcome: "bypass_off",
    });
  });

  it("per endpoint: CACHE_DISABLED_ENDPOINTS and setEndpoint", async () => {
    const s = setup({ config: { disabledEndpoints: ["finance.sum"] } });
    expect(s.cache.endpointEnabled("finance.sum")).toBe(false);
    await s.read({ endpoint: "finance.sum" });
    expect(await s.read({ endpoint: "finance.sum" })).toMatchObject({
      filled: true,
      outcome: "bypass_off",
    });
    await s.read({ endpoint: "finance.list" });
    expect((await s.read({ endpoint: "finance.list" })).outcome).toBe(
      "hit_memory",
    );
    s.cache.setEndpoint("finance.list", false);
    s.cache.setEndpoint("finance.sum", true);
    expect(s.cache.status().disabledEndpoints).toEqual(["finance.list"]);
    expect((await s.read({ endpoint: "finance.list" })).outcome).toBe(
      "bypass_off",
    );
    expect((await s.read({ endpoint: "finance.sum" })).outcome).toBe(
      "hit_memory",
    );
    expect(s.observer.reads.at(-1)?.endpoint).toBe("finance.sum");
  });
});

describe("with a shared tier", () => {
  function twoInstances(config: Partial<CacheConfig> = {}) {
    const clock = new ManualClock();
    const shared = new FakeShared(clock);
    return {
      clock,
      shared,
      a: setup({ clock, shared, config }),
      b: setup({ clock, shared, config }),
    };
  }

  it("stores in both tiers: the shared copy for the TTL, the local one for min(TTL, CACHE_LOCAL_TTL)", async () => {
    const { clock, shared, a } = twoInstances({ localTtlMs: 5_000 });
    await a.read({ ttlMs: 60_000 });
    expect(shared.entryWrites.map((w) => w.ttlMs)).toEqual([60_000]);
    elapse(clock, 4_999);
    expect((await a.read()).outcome).toBe("hit_memory");
    elapse(clock, 2);
    expect(await a.read()).toMatchObject({
      value: "value 1",
      outcome: "hit_shared",
    });

    await a.read({ key: ["short"], ttlMs: 2_000 });
    expect(shared.entryWrites.map((w) => w.ttlMs)).toEqual([60_000, 2_000]);
    elapse(clock, 2_001);
    expect(await a.read({ key: ["short"] })).toMatchObject({
      filled: true,
      outcome: "miss",
    });
  });

  it("a hit in the shared tier is copied into the local one", async () => {
    const { shared, a, b } = twoInstances();
    await a.read({ value: "from a" });
    expect(await b.read()).toMatchObject({
      value: "from a",
      filled: false,
      outcome: "hit_shared",
      onHitCalls: 1,
    });
    const reads = shared.entryReads;
    expect(await b.read()).toMatchObject({
      value: "from a",
      outcome: "hit_memory",
    });
    expect(shared.entryReads).toBe(reads);
  });

  it("generations come from the shared tier: one instance's write invalidates another's local copy", async () => {
    const { shared, a, b } = twoInstances();
    await b.read({ value: "old" });
    expect((await b.read()).outcome).toBe("hit_memory");
    await a.cache.invalidate("main", ["orders"], 1);
    expect(a.observer.invalidations).toEqual([{ keys: 2, shared: true }]);
    expect([...shared.generations.values()]).toEqual([1, 1]);
    // The write sets no fence; B's fill sets them from the primary's position.
    expect(shared.fences.size).toBe(0);
    expect(await b.read({ value: "new" })).toMatchObject({
      value: "new",
      outcome: "miss",
    });
    // Only the generation B's read depends on (org 1's rows of orders).
    expect([...shared.fences.values()]).toEqual(["1000"]);
    expect((await a.read()).value).toBe("new");
  });

  it("generations unavailable: bypass_unavailable, the fill is not stored in either tier", async () => {
    const { shared, a } = twoInstances();
    shared.generationsDown = true;
    expect(await a.read()).toMatchObject({
      filled: true,
      outcome: "bypass_unavailable",
    });
    expect(shared.entryWrites).toEqual([]);
    shared.generationsDown = false;
    expect(await a.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
  });

  it("a shared tier down entirely: local copies are not used either", async () => {
    const { shared, a } = twoInstances();
    await a.read();
    shared.down = true;
    expect(await a.read()).toMatchObject({
      filled: true,
      outcome: "bypass_unavailable",
    });
  });

  it("fences unavailable: the fill is not stored (behind_fence)", async () => {
    const { shared, a } = twoInstances();
    await a.cache.invalidate("main", ["orders"], 1);
    shared.fencesDown = true;
    await a.read();
    expect(a.observer.skips).toEqual(["behind_fence"]);
    expect(shared.entryWrites).toEqual([]);
  });

  it("a write whose fence is missing on the shared tier: the next fill sets it from the primary's position now", async () => {
    const { shared, a } = twoInstances();
    await a.cache.invalidate("main", ["orders"], 1);
    shared.fences.clear();
    a.primary.lsn = 3_000n;
    // Data below the position now: not stored; the fence is set anyway.
    await a.read({ floor: 2_999n });
    expect(a.observer.skips).toEqual(["behind_fence"]);
    expect([...shared.fences.values()]).toContain("3000");
    expect((await a.read({ floor: 3_000n })).filled).toBe(true);
    expect((await a.read()).outcome).toBe("hit_memory");
  });

  it("without the primary's position, a fill of a scope with a missing fence is not stored", async () => {
    const { shared, a } = twoInstances();
    await a.cache.invalidate("main", ["orders"], 1);
    shared.fences.clear();
    a.primary.fails = true;
    await a.read({ floor: 10_000n });
    expect(a.observer.skips).toEqual(["behind_fence"]);
  });

  it("the shared tier refusing the entry is reported (shared_unavailable)", async () => {
    const { shared, a } = twoInstances();
    shared.setEntryDown = true;
    await a.read();
    expect(a.observer.skips).toEqual(["shared_unavailable"]);
  });

  it("forgetLocal() drops the local copies", async () => {
    const { a } = twoInstances();
    await a.read();
    expect((await a.read()).outcome).toBe("hit_memory");
    a.cache.forgetLocal();
    expect(a.cache.status().tiers[0]?.entries).toBe(0);
    expect(await a.read()).toMatchObject({
      value: "value 1",
      outcome: "hit_shared",
    });
  });

  it("setEnabled(true) bumps every cluster's epoch on the shared tier, for every instance", async () => {
    const { a, b } = twoInstances();
    await b.read();
    await a.cache.setEnabled(false);
    await a.cache.setEnabled(true);
    expect(await b.read()).toMatchObject({ filled: true, outcome: "miss" });
  });

  it("a copy from the shared tier does not outlive the entry's TTL", async () => {
    const { clock, a, b } = twoInstances({ localTtlMs: 5_000 });
    await a.read({ ttlMs: 2_000, value: "short-lived" });
    elapse(clock, 1_000);
    expect((await b.read()).outcome).toBe("hit_shared");
    elapse(clock, 2_001); // past its 2 s TTL, and 2 s after the copy
    expect(await b.read()).toMatchObject({ filled: true, outcome: "miss" });
  });
});

describe("LocalGenerations", () => {
  const entry = (g: number[]): CacheEntry => ({
    v: 1,
    g,
    f: "0",
    a: 0,
    c: "main",
    x: Number.MAX_SAFE_INTEGER,
  });

  it("a key forgotten past maxKeys reads as the floor: an entry that recorded an older generation never matches again", () => {
    const gens = new LocalGenerations(3);
    const recorded = gens.get(["k", "never"]);
    expect(recorded).toEqual([0, 0]);
    expect(
      entryUsable(entry(recorded), gens.get(["k", "never"]), EVENTUAL, 0),
    ).toBe(true);
    const [bumped] = gens.bump(["k"]);
    gens.bump(["a", "b", "c"]); // 4 keys > 3: "k" is forgotten
    expect(gens.size).toBe(3);
    const now = gens.get(["k", "never"]);
    expect(now[0]).toBeGreaterThanOrEqual(bumped!);
    expect(now[1]).toBe(now[0]);
    expect(entryUsable(entry(recorded), now, EVENTUAL, 0)).toBe(false);
    // Bumped again later, it gets a value no entry ever recorded.
    const [again] = gens.bump(["k"]);
    expect(again).toBeGreaterThan(now[0]!);
  });

  it("a forgotten key's fence is the highest fence forgotten; an older generation has none", () => {
    const gens = new LocalGenerations(2);
    const [g1] = gens.bump(["x"]);
    gens.setFence("x", g1!, 700n);
    const [g2] = gens.bump(["y"]);
    gens.setFence("y", g2!, 500n);
    gens.bump(["p", "q"]); // x and y forgotten
    const [floor] = gens.get(["x"]);
    expect(gens.fences(["x", "y", "never"], [floor!, floor!, floor!])).toEqual([
      700n,
      700n,
      700n,
    ]);
    expect(gens.fences(["x"], [g1!])).toEqual([null]);
  });

  it("a key forgotten before its fence was known leaves the floor's fence unknown until a fill sets it", () => {
    const gens = new LocalGenerations(2);
    const [gx] = gens.bump(["x"]);
    gens.setFence("x", gx!, 700n);
    gens.bump(["y"]); // written, never filled: no fence
    gens.bump(["p", "q"]); // x and y forgotten
    const [floor] = gens.get(["y"]);
    expect(gens.fences(["x", "y"], [floor!, floor!])).toEqual([null, null]);
    gens.setFence("y", floor!, 900n);
    expect(gens.fences(["x", "y"], [floor!, floor!])).toEqual([900n, 900n]);
  });

  it("a bump with a known position fences keys not bumped since its mark, and only those", () => {
    const gens = new LocalGenerations();
    gens.bump(["a"]);
    const mark = gens.mark;
    const [b1] = gens.bump(["b"]); // another write, after the mark
    const [a2, b2, c1] = gens.bump(["a", "b", "c"], { lsn: 50n, mark });
    expect(b1).toBeGreaterThan(mark);
    expect(gens.fences(["a", "b", "c"], [a2!, b2!, c1!])).toEqual([
      50n,
      null,
      50n,
    ]);
  });

  it("fences: a key never bumped needs none; a generation bumped but not yet fenced has none", () => {
    const gens = new LocalGenerations();
    expect(gens.fences(["k"], [0])).toEqual([0n]);
    const [g] = gens.bump(["k"]);
    expect(gens.fences(["k"], [g!])).toEqual([null]);
    gens.setFence("k", g!, 42n);
    gens.setFence("k", g!, 99n); // set once
    expect(gens.fences(["k"], [g!])).toEqual([42n]);
  });

  it("through QueryCache: once 100,000 other keys are bumped, an entry invalidated before stays invalid", async () => {
    const s = setup();
    await s.read();
    await s.cache.invalidate("main", ["orders"], 1);
    const others = Array.from({ length: 50_001 }, (_, i) => `t${i}`);
    await s.cache.invalidate("main", others, undefined);
    expect(await s.read()).toMatchObject({
      value: "value 2",
      filled: true,
      outcome: "miss",
    });
    expect((await s.read()).outcome).toBe("hit_memory");
  });
});

describe("status()", () => {
  it("shows the memory tier's entries, bytes and limit, and the switches", async () => {
    const s = setup({ config: { disabledEndpoints: ["b", "a"] } });
    expect(s.cache.status()).toEqual({
      enabled: true,
      disabledEndpoints: ["a", "b"],
      tiers: [
        {
          name: "memory",
          state: "ok",
          entries: 0,
          bytes: 0,
          maxBytes: 1024 * 1024,
        },
      ],
    });
    await s.read({ key: [1] });
    await s.read({ key: [2] });
    const memory = s.cache.status().tiers[0]!;
    expect(memory.entries).toBe(2);
    expect(memory.bytes).toBeGreaterThan(2 * JSON.stringify("value 1").length);
  });

  it("shows the shared tier's breaker and lost invalidations as its state", () => {
    const clock = new ManualClock();
    const shared = new FakeShared(clock);
    const s = setup({ clock, shared });
    const state = () => s.cache.status().tiers[1];
    expect(state()).toEqual({
      name: "redis",
      state: "ok",
      breaker: "closed",
      lastError: null,
    });
    shared.breaker = "open";
    shared.lastError = "ECONNREFUSED";
    expect(state()).toMatchObject({ state: "open", lastError: "ECONNREFUSED" });
    shared.invalidationLost = true;
    expect(state()?.state).toBe("recovering");
  });

  it("never shows a URL or password, even when the shared store's errors hold one", async () => {
    const url = "redis://:hunter2pw@10.0.0.9:6379/0";
    const refuse = () =>
      Promise.reject(
        Object.assign(new Error(`connect ECONNREFUSED ${url}`), {
          code: "ECONNREFUSED",
        }),
      );
    const store: SharedStore = {
      name: "redis",
      getEntry: refuse,
      setEntry: refuse,
      getGenerations: refuse,
      bumpGenerations: refuse,
      setFences: refuse,
      getFences: refuse,
      close: async () => {},
    };
    const observer = new Recorder();
    const cache = createQueryCache(CONFIG, {
      sharedStore: store,
      clock: new ManualClock(),
      logger: silentLogger,
      observer,
      clusters: () => ["main"],
      currentLsn: async () => 1n,
    });
    const spec = { namespace: "n", key: [1], tables: ["orders"], ttlMs: 1e6 };
    const scope = { cluster: "main", tables: ["orders"], orgId: 1 };
    expect(
      await cache.read(spec, scope, EVENTUAL, "e", async () => "from db"),
    ).toBe("from db");
    expect(observer.reads.map((r) => r.outcome)).toEqual([
      "bypass_unavailable",
    ]);
    await cache.invalidate("main", ["orders"], 1);
    const status = cache.status();
    expect(status.tiers[1]).toMatchObject({
      name: "redis",
      state: "recovering",
    });
    expect(status.tiers[1]?.lastError).toMatch(/ECONNREFUSED/);
    expect(JSON.stringify(status)).not.toMatch(
      /hunter2pw|redis:\/\/|10\.0\.0\.9/,
    );
    await cache.close();
  });
});

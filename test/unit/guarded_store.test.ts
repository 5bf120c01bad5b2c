import { afterEach, describe, expect, it, vi } from "vitest";
import {
  GuardedStore,
  type GuardedStoreOptions,
} from "../../backend/database/router/cache/guarded_store";
import type { SharedStore } from "../../backend/database/router/cache/shared_store";
import { ManualClock } from "../../backend/database/router/support/clock";
import type { Logger } from "../../backend/database/router/support/logger";

const TIMEOUT_MS = 100;
const OPEN_MS = 5_000;
const GEN_TTL_MS = 86_400_000;
const EPOCH_KEYS = ["rr1:g:main:*", "rr1:g:eu:*"] as const;

type Method = Exclude<keyof SharedStore, "name">;
type Mode = "ok" | "fail" | "hang";

/** An in-memory SharedStore that records every call and fails or hangs on demand. */
class FakeStore implements SharedStore {
  readonly name = "fake";
  mode: Mode = "ok";
  error: unknown = Object.assign(new Error("connect ECONNREFUSED"), {
    code: "ECONNREFUSED",
  });
  readonly calls: { method: Method; args: unknown[] }[] = [];
  /** Resolvers of hanging calls, oldest first: answer them late. */
  readonly hanging: (() => void)[] = [];
  closes = 0;
  private readonly data = new Map<string, string>();

  getEntry(key: string) {
    return this.handle("getEntry", [key], () => this.data.get(key));
  }
  setEntry(key: string, value: string, ttlMs: number) {
    return this.handle("setEntry", [key, value, ttlMs], () => {
      this.data.set(key, value);
    });
  }
  getGenerations(keys: readonly string[]) {
    return this.handle("getGenerations", [keys], () =>
      keys.map((k) => Number(this.data.get(k) ?? 0)),
    );
  }
  bumpGenerations(keys: readonly string[], ttlMs: number) {
    return this.handle("bumpGenerations", [keys, ttlMs], () =>
      keys.map((k) => {
        const next = Number(this.data.get(k) ?? 0) + 1;
        this.data.set(k, String(next));
        return next;
      }),
    );
  }
  setFences(fences: ReadonlyArray<readonly [string, string]>, ttlMs: number) {
    return this.handle("setFences", [fences, ttlMs], () => {
      for (const [k, v] of fences) if (!this.data.has(k)) this.data.set(k, v);
    });
  }
  getFences(keys: readonly string[]) {
    return this.handle("getFences", [keys], () =>
      keys.map((k) => this.data.get(k)),
    );
  }
  async close() {
    this.closes += 1;
  }

  methods(): Method[] {
    return this.calls.map((c) => c.method);
  }

  private handle<T>(method: Method, args: unknown[], run: () => T): Promise<T> {
    this.calls.push({ method, args });
    switch (this.mode) {
      case "ok":
        return Promise.resolve(run());
      case "fail":
        return Promise.reject(this.error);
      case "hang":
        return new Promise((resolve) =>
          this.hanging.push(() => resolve(run())),
        );
    }
  }
}

function setup(opts: Partial<GuardedStoreOptions> = {}) {
  const store = new FakeStore();
  const clock = new ManualClock();
  const logs: { level: string; message: string; fields: unknown }[] = [];
  const logger: Logger = {
    info: (message, fields) => logs.push({ level: "info", message, fields }),
    warn: (message, fields) => logs.push({ level: "warn", message, fields }),
    error: (message, fields) => logs.push({ level: "error", message, fields }),
  };
  const transitions: string[] = [];
  const guarded = new GuardedStore(store, {
    timeoutMs: TIMEOUT_MS,
    failureThreshold: 3,
    openDurationMs: OPEN_MS,
    clock,
    logger,
    epochKeys: () => EPOCH_KEYS,
    generationTtlMs: GEN_TTL_MS,
    onStateChange: (from, to) => transitions.push(`${from}->${to}`),
    ...opts,
  });
  return { store, clock, logs, transitions, guarded };
}

/** Three failed reads: the breaker opens. */
async function open(s: ReturnType<typeof setup>): Promise<void> {
  s.store.mode = "fail";
  for (let i = 0; i < 3; i++) await s.guarded.getEntry("rr1:e:k");
  expect(s.guarded.state().breaker).toBe("open");
}

/**
 * Lets fake time pass the timeout: withTimeout rejects from a setImmediate
 * queued when its timer fires (so a reply already waiting wins), which the
 * fake clock runs on its next step.
 */
async function pastTimeout(ms = TIMEOUT_MS): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await vi.advanceTimersByTimeAsync(1);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("GuardedStore: a healthy store", () => {
  it("passes every call through and reports what the store answered", async () => {
    const { guarded, store } = setup();
    expect(await guarded.getEntry("rr1:e:k")).toBeUndefined();
    expect(await guarded.setEntry("rr1:e:k", "v", 1_000)).toBe(true);
    expect(await guarded.getEntry("rr1:e:k")).toBe("v");
    expect(await guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS)).toEqual([1]);
    expect(await guarded.getGenerations(["rr1:g:a", "rr1:g:b"])).toEqual([
      1, 0,
    ]);
    expect(await guarded.setFences([["rr1:f:a:1", "0/10"]], 1_000)).toBe(true);
    expect(await guarded.getFences(["rr1:f:a:1", "rr1:f:a:2"])).toEqual([
      "0/10",
      undefined,
    ]);
    expect(store.calls).toHaveLength(7);
    expect(guarded.available()).toBe(true);
    expect(guarded.state()).toEqual({
      name: "fake",
      breaker: "closed",
      invalidationLost: false,
      lastError: null,
    });
  });

  it("rejects out-of-range options, naming them", () => {
    const store = new FakeStore();
    const make = (o: Partial<GuardedStoreOptions>) => () =>
      new GuardedStore(store, {
        timeoutMs: 1,
        failureThreshold: 1,
        openDurationMs: 0,
        clock: new ManualClock(),
        logger: { info() {}, warn() {}, error() {} },
        epochKeys: () => [],
        generationTtlMs: 1,
        ...o,
      });
    expect(make({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(make({ generationTtlMs: 1.5 })).toThrow(/generationTtlMs/);
    expect(make({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(make({ openDurationMs: -1 })).toThrow(/openDurationMs/);
  });
});

describe("GuardedStore: timeouts", () => {
  it("resolves a call the store does not answer after timeoutMs, and ignores the late answer", async () => {
    vi.useFakeTimers();
    const s = setup();
    s.store.mode = "hang";
    let result: string | undefined | "pending" = "pending";
    void s.guarded.getEntry("rr1:e:k").then((r) => (result = r));
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS - 1);
    expect(result).toBe("pending");
    await pastTimeout(1);
    expect(result).toBeUndefined();
    expect(s.guarded.state().lastError).toMatch(/ETIMEDOUT/);

    // A second timeout, then the first two answer late: that must not count
    // as a success, so one more timeout opens the breaker.
    const second = s.guarded.getEntry("rr1:e:k");
    await pastTimeout();
    expect(await second).toBeUndefined();
    for (const answer of s.store.hanging) answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.guarded.state().breaker).toBe("closed");
    const third = s.guarded.setEntry("rr1:e:k", "v", 1_000);
    await pastTimeout();
    expect(await third).toBe(false);
    expect(s.guarded.state().breaker).toBe("open");
  });

  it("bounds a bump too, and counts the timed-out bump as a lost invalidation", async () => {
    vi.useFakeTimers();
    const s = setup();
    s.store.mode = "hang";
    const bump = s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    await pastTimeout();
    expect(await bump).toBeUndefined();
    expect(s.guarded.state().invalidationLost).toBe(true);
  });
});

describe("GuardedStore: breaker", () => {
  it("opens after failureThreshold consecutive failures; a success in between resets the count", async () => {
    const s = setup();
    s.store.mode = "fail";
    await s.guarded.getEntry("k");
    await s.guarded.getEntry("k");
    s.store.mode = "ok";
    await s.guarded.getEntry("k");
    s.store.mode = "fail";
    await s.guarded.getEntry("k");
    await s.guarded.getEntry("k");
    expect(s.guarded.state().breaker).toBe("closed");
    await s.guarded.getEntry("k");
    expect(s.guarded.state().breaker).toBe("open");
    expect(s.transitions).toEqual(["closed->open"]);
  });

  it("while open, no call reaches the store and every call resolves at once", async () => {
    const s = setup();
    await open(s);
    const before = s.store.calls.length;
    s.store.mode = "ok";
    expect(s.guarded.available()).toBe(false);
    expect(await s.guarded.getEntry("k")).toBeUndefined();
    expect(await s.guarded.setEntry("k", "v", 1_000)).toBe(false);
    expect(await s.guarded.getGenerations(["g"])).toBeUndefined();
    expect(await s.guarded.getFences(["f"])).toBeUndefined();
    expect(await s.guarded.setFences([["f", "0/1"]], 1_000)).toBe(false);
    s.clock.advance(OPEN_MS - 1);
    expect(await s.guarded.getEntry("k")).toBeUndefined();
    expect(s.store.calls.length).toBe(before);
  });

  it("after openDurationMs lets one trial through; its failure reopens, its success closes", async () => {
    const s = setup();
    await open(s);
    s.clock.advance(OPEN_MS);
    expect(s.guarded.available()).toBe(true);
    expect(s.guarded.state().breaker).toBe("half_open");

    // One trial at a time: a second call while it is in flight stays out.
    s.store.mode = "hang";
    const trial = s.guarded.getEntry("k");
    await Promise.resolve();
    expect(s.guarded.available()).toBe(false);
    const callsDuringTrial = s.store.calls.length;
    expect(await s.guarded.getEntry("k")).toBeUndefined();
    expect(s.store.calls.length).toBe(callsDuringTrial);
    s.store.hanging.shift()?.();
    expect(await trial).toBeUndefined(); // the fake has no entry: a hit would be a string
    expect(s.guarded.state().breaker).toBe("closed");

    await open(s);
    s.clock.advance(OPEN_MS);
    expect(await s.guarded.getEntry("k")).toBeUndefined(); // trial fails
    expect(s.guarded.state().breaker).toBe("open");
    s.clock.advance(OPEN_MS);
    s.store.mode = "ok";
    await s.guarded.setEntry("k", "v", 1_000);
    expect(await s.guarded.getEntry("k")).toBe("v");
    expect(s.transitions).toEqual([
      "closed->open",
      "open->half_open",
      "half_open->closed",
      "closed->open",
      "open->half_open",
      "half_open->open",
      "open->half_open",
      "half_open->closed",
    ]);
  });

  it("logs each transition once: warn on open, info otherwise", async () => {
    const s = setup();
    await open(s);
    await s.guarded.getEntry("k"); // still open: no new log
    s.clock.advance(OPEN_MS);
    s.store.mode = "ok";
    await s.guarded.getEntry("k");
    expect(
      s.logs.map((l) => [l.level, (l.fields as { to: string }).to]),
    ).toEqual([
      ["warn", "open"],
      ["info", "half_open"],
      ["info", "closed"],
    ]);
  });

  it("a RangeError (the caller's bad argument) is no verdict on the store", async () => {
    const s = setup();
    s.store.mode = "fail";
    s.store.error = new RangeError("ttlMs must be a positive integer, got 0");
    for (let i = 0; i < 5; i++) await s.guarded.setEntry("k", "v", 0);
    expect(s.guarded.state().breaker).toBe("closed");
    expect(s.logs.filter((l) => l.level === "error")).toHaveLength(5);
  });
});

describe("GuardedStore: lost invalidations", () => {
  it("a failed bump distrusts the store until the epoch keys are bumped, which the next call does first", async () => {
    const s = setup();
    s.store.mode = "fail";
    expect(await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS)).toBe(
      undefined,
    );
    expect(s.guarded.state().invalidationLost).toBe(true);
    expect(s.guarded.available()).toBe(false);
    expect(s.logs.at(-1)).toMatchObject({ level: "warn" });

    s.store.mode = "ok";
    s.store.calls.length = 0;
    expect(await s.guarded.getGenerations(EPOCH_KEYS)).toEqual([1, 1]);
    expect(s.store.calls).toEqual([
      { method: "bumpGenerations", args: [EPOCH_KEYS, GEN_TTL_MS] },
      { method: "getGenerations", args: [EPOCH_KEYS] },
    ]);
    expect(s.guarded.state().invalidationLost).toBe(false);
    expect(s.guarded.available()).toBe(true);
  });

  it("a bump refused by an open breaker is lost too; recovery waits for the breaker", async () => {
    const s = setup();
    await open(s);
    const before = s.store.calls.length;
    expect(await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS)).toBe(
      undefined,
    );
    expect(s.store.calls.length).toBe(before);
    expect(s.guarded.state()).toMatchObject({
      breaker: "open",
      invalidationLost: true,
    });

    s.store.mode = "ok";
    s.clock.advance(OPEN_MS);
    s.store.calls.length = 0;
    expect(await s.guarded.bumpGenerations(["rr1:g:b"], GEN_TTL_MS)).toEqual([
      1,
    ]);
    expect(s.store.methods()).toEqual(["bumpGenerations", "bumpGenerations"]);
    expect(s.store.calls[0]?.args).toEqual([EPOCH_KEYS, GEN_TTL_MS]);
    expect(s.guarded.state()).toMatchObject({
      breaker: "closed",
      invalidationLost: false,
    });
  });

  it("a failed recovery keeps the flag: reads and writes still never reach the store", async () => {
    const s = setup();
    s.store.mode = "fail";
    await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    s.store.calls.length = 0;
    expect(await s.guarded.getEntry("k")).toBeUndefined();
    expect(await s.guarded.setEntry("k", "v", 1_000)).toBe(false);
    // Each call tried only the recovery bump, never its own operation.
    expect(s.store.methods()).toEqual(["bumpGenerations", "bumpGenerations"]);
    expect(s.guarded.state().invalidationLost).toBe(true);
  });

  it("concurrent calls share one recovery bump, then proceed", async () => {
    const s = setup();
    s.store.mode = "fail";
    await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    s.store.calls.length = 0;
    s.store.mode = "hang";
    const reads = [
      s.guarded.getEntry("k"),
      s.guarded.getFences(["f"]),
      s.guarded.bumpGenerations(["rr1:g:c"], GEN_TTL_MS),
    ];
    await Promise.resolve();
    expect(s.store.methods()).toEqual(["bumpGenerations"]);
    s.store.mode = "ok";
    s.store.hanging.shift()?.();
    expect(await Promise.all(reads)).toEqual([undefined, [undefined], [1]]);
    expect(s.store.methods()).toEqual([
      "bumpGenerations",
      "getEntry",
      "getFences",
      "bumpGenerations",
    ]);
    expect(s.guarded.state().invalidationLost).toBe(false);
  });

  it("a loss recorded while the recovery bump is in flight is not cleared by it", async () => {
    const s = setup();
    s.store.mode = "fail";
    await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    s.store.mode = "hang";
    const read = s.guarded.getEntry("k"); // starts the recovery
    await Promise.resolve();
    // Shutting down mid-recovery: this write's bump is never attempted, and
    // the recovery bump may already have been applied before its commit.
    void s.guarded.close();
    expect(await s.guarded.bumpGenerations(["rr1:g:b"], GEN_TTL_MS)).toBe(
      undefined,
    );
    s.store.hanging.shift()?.();
    await read;
    expect(s.guarded.state().invalidationLost).toBe(true);
  });

  it("the recovery reads epochKeys() when it runs", async () => {
    let keys: readonly string[] = ["rr1:g:old:*"];
    const s = setup({ epochKeys: () => keys });
    s.store.mode = "fail";
    await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    keys = ["rr1:g:old:*", "rr1:g:new:*"];
    s.store.mode = "ok";
    s.store.calls.length = 0;
    await s.guarded.getEntry("k");
    expect(s.store.calls[0]?.args[0]).toEqual(keys);
  });
});

describe("GuardedStore: what it shows", () => {
  it("state() and the logs never hold a URL, a password or a value", async () => {
    const s = setup();
    s.store.mode = "fail";
    s.store.error = new Error(
      "connect failed for redis://:hunter2@10.0.0.9:6379/0",
    );
    await s.guarded.setEntry("rr1:e:k", "secret-entry-value", 1_000);
    await s.guarded.bumpGenerations(["rr1:g:a"], GEN_TTL_MS);
    await s.guarded.getEntry("rr1:e:k");
    const shown = JSON.stringify([s.guarded.state(), s.logs]);
    expect(s.guarded.state().lastError).toMatch(/connect failed/);
    expect(shown).not.toMatch(
      /hunter2|redis:\/\/|10\.0\.0\.9|secret-entry-value/,
    );
    expect(Object.keys(s.guarded.state()).sort()).toEqual([
      "breaker",
      "invalidationLost",
      "lastError",
      "name",
    ]);
  });

  it("close() delegates once; afterwards calls resolve unavailable without reaching the store", async () => {
    const s = setup();
    await s.guarded.close();
    await s.guarded.close();
    expect(s.store.closes).toBe(1);
    expect(await s.guarded.getEntry("k")).toBeUndefined();
    expect(await s.guarded.setEntry("k", "v", 1_000)).toBe(false);
    expect(s.store.calls).toHaveLength(0);
    expect(s.guarded.available()).toBe(false);
  });
});

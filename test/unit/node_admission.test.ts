import { afterEach, describe, expect, it, vi } from "vitest";
import { OverloadedError } from "../../backend/database/router/base/errors";
import { NodeAdmission } from "../../backend/database/router/limits/node_admission";

afterEach(() => {
  vi.useRealTimers();
});

describe("NodeAdmission: bounded slots, bounded queue, bounded wait", () => {
  it("admits up to the slots at once, synchronously", () => {
    const a = new NodeAdmission("replica_1", {
      slots: 2,
      queueMax: 1,
      queueTimeoutMs: 100,
    });
    expect(a.acquire()).toBeUndefined();
    expect(a.acquire()).toBeUndefined();
    expect(a.active).toBe(2);
    expect(a.hasFreeSlot).toBe(false);
  });

  it("queues FIFO; a release hands the slot to the oldest waiter", async () => {
    const a = new NodeAdmission("replica_1", {
      slots: 1,
      queueMax: 5,
      queueTimeoutMs: 1_000,
    });
    a.acquire();
    const order: number[] = [];
    const w1 = a.acquire()!.then(() => order.push(1));
    const w2 = a.acquire()!.then(() => order.push(2));
    expect(a.queued).toBe(2);
    a.release();
    await w1;
    a.release();
    await w2;
    expect(order).toEqual([1, 2]);
    expect(a.active).toBe(1);
    a.release();
    expect(a.active).toBe(0);
    expect(a.hasFreeSlot).toBe(true);
  });

  it("refuses at once when the queue is full, naming the node", () => {
    const a = new NodeAdmission("replica_2", {
      slots: 1,
      queueMax: 1,
      queueTimeoutMs: 1_000,
    });
    a.acquire();
    void a.acquire()!.catch(() => undefined);
    let thrown: unknown;
    try {
      a.acquire();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OverloadedError);
    expect((thrown as OverloadedError).code).toBe("unavailable");
    expect((thrown as OverloadedError).why).toBe("queue_full");
    expect((thrown as Error).message).toContain("replica_2");
    expect(a.refusedQueueFull).toBe(1);
  });

  it("a waiter that gets no slot within the timeout is refused and leaves the queue", async () => {
    vi.useFakeTimers();
    const a = new NodeAdmission("primary", {
      slots: 1,
      queueMax: 5,
      queueTimeoutMs: 250,
    });
    a.acquire();
    const waiting = a.acquire()!;
    const outcome = waiting.then(
      () => "granted",
      (err: OverloadedError) => err.why,
    );
    vi.advanceTimersByTime(249);
    expect(a.queued).toBe(1);
    vi.advanceTimersByTime(1);
    expect(await outcome).toBe("queue_timeout");
    expect(a.queued).toBe(0);
    expect(a.refusedTimeout).toBe(1);
    // The running statement still holds its slot; its release frees it.
    a.release();
    expect(a.active).toBe(0);
  });
});

describe("NodeAdmission.enter: waiting without a Promise", () => {
  const waiter = () => {
    const heard: string[] = [];
    return {
      heard,
      admitted: () => void heard.push("admitted"),
      refused: (err: OverloadedError) => void heard.push(err.why),
    };
  };

  it("admits at once when a slot is free, else queues FIFO and hands slots over on release", () => {
    const a = new NodeAdmission("replica_1", {
      slots: 1,
      queueMax: 5,
      queueTimeoutMs: 1_000,
    });
    const w1 = waiter();
    const w2 = waiter();
    const w3 = waiter();
    expect(a.enter(w1)).toBe(true);
    expect(a.enter(w2)).toBe(false);
    expect(a.enter(w3)).toBe(false);
    expect(a.queued).toBe(2);
    a.release();
    expect(w2.heard).toEqual(["admitted"]);
    expect(w3.heard).toEqual([]);
    a.release();
    expect(w3.heard).toEqual(["admitted"]);
    a.release();
    expect(a.active).toBe(0);
    expect(w1.heard).toEqual([]);
  });

  it("one timer refuses every waiter whose time is up, and is re-armed for the next", () => {
    vi.useFakeTimers();
    const a = new NodeAdmission("replica_1", {
      slots: 1,
      queueMax: 5,
      queueTimeoutMs: 100,
    });
    a.enter(waiter());
    const early = waiter();
    a.enter(early);
    vi.advanceTimersByTime(40);
    const late = waiter();
    a.enter(late);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(60);
    expect(early.heard).toEqual(["queue_timeout"]);
    expect(late.heard).toEqual([]);
    vi.advanceTimersByTime(39);
    expect(late.heard).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(late.heard).toEqual(["queue_timeout"]);
    expect(a.refusedTimeout).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("no timer is left once the queue drains", () => {
    vi.useFakeTimers();
    const a = new NodeAdmission("replica_1", {
      slots: 1,
      queueMax: 5,
      queueTimeoutMs: 100,
    });
    a.enter(waiter());
    a.enter(waiter());
    expect(vi.getTimerCount()).toBe(1);
    a.release();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a waiter that gives its slot straight back passes it on without recursion (a long queue drains)", () => {
    const a = new NodeAdmission("replica_1", {
      slots: 1,
      queueMax: 10_000,
      queueTimeoutMs: 1_000,
    });
    a.enter(waiter());
    let admitted = 0;
    const giveBack = {
      admitted: () => {
        admitted++;
        a.release();
      },
      refused: () => undefined,
    };
    for (let i = 0; i < 10_000; i++) a.enter(giveBack);
    a.release();
    expect(admitted).toBe(10_000);
    expect(a.queued).toBe(0);
    expect(a.active).toBe(0);
  });
});

/**
 * The role watch with fake pools: a replica that answers
 * `pg_is_in_recovery() = false` leaves the serving set after one tick (and
 * its reads in flight are retried elsewhere); a check that hangs blocks
 * neither the other nodes nor its own node beyond its timeout, and is never
 * duplicated.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import type {
  PgClient,
  PgPool,
} from "../../backend/database/router/nodes/pg_pool";
import { ReplicaRouter } from "../../backend/database/router/replica_router";

const ROLE_SQL = "SELECT pg_is_in_recovery() AS in_recovery";
const TIMEOUT_MS = 200;

/** A pending result that settles only when told (or when its connection is destroyed). */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A node: answers probes and lag samples on `pool.query`; the role watch's
 * checks and reads arrive on checked-out clients. Destroying a client whose
 * query is pending fails that query, as pg does.
 */
class FakePool implements PgPool {
  totalCount = 0;
  idleCount = 0;
  waitingCount = 0;
  inRecovery: boolean;
  /** Role checks received. */
  roleChecks = 0;
  /** Clients released with an error (destroyed). */
  destroyed = 0;
  /** Clients released without an error. */
  returned = 0;
  hangRoleCheck = false;
  hangConnect = false;
  hangReads = false;
  readonly pendingConnects: Array<(c: PgClient) => void> = [];

  constructor(readonly replica: boolean) {
    this.inRecovery = replica;
  }

  async query(text: string): Promise<{ rows: Record<string, unknown>[] }> {
    if (text.includes("AS replay_lsn"))
      return {
        rows: [
          {
            in_recovery: this.inRecovery,
            receive_lsn: "0/100",
            replay_lsn: "0/100",
            replay_age_ms: 5,
            receiver_status: "streaming",
          },
        ],
      };
    if (text.includes("pg_is_in_recovery()"))
      return {
        rows: [{ in_recovery: this.inRecovery, system_identifier: "7000" }],
      };
    if (text.includes("pg_current_wal_lsn()"))
      return { rows: [{ lsn: "0/100" }] };
    return { rows: [] };
  }

  connect(): Promise<PgClient> {
    const pending = deferred<never>();
    const client: PgClient = {
      query: async (text: string) => {
        if (text === ROLE_SQL) {
          this.roleChecks++;
          if (this.hangRoleCheck) return pending.promise;
          return { rows: [{ in_recovery: this.inRecovery }] };
        }
        if (this.hangReads) return pending.promise;
        return { rows: [{ served: 1 }] };
      },
      release: (destroy?: boolean | Error) => {
        if (destroy) {
          this.destroyed++;
          pending.reject(new Error("Connection terminated"));
        } else this.returned++;
      },
      processID: 1,
    };
    if (this.hangConnect)
      return new Promise((resolve) => this.pendingConnects.push(resolve));
    return Promise.resolve(client);
  }

  on(): this {
    return this;
  }
  async end(): Promise<void> {}
}

/** A router over fake pools, probed and sampled once, with no timers running: the test ticks. */
async function setup() {
  const pools = new Map<string, FakePool>();
  const warnings: Array<[string, Record<string, unknown> | undefined]> = [];
  const config = loadConfig({
    DATABASE_URL: "postgres://u:pw@primary:5432/app",
    READ_REPLICA_URLS:
      "postgres://u:pw@r1:5432/app,postgres://u:pw@r2:5432/app",
    REPLICA_ATTEMPT_DEADLINE_MAX: `${TIMEOUT_MS}ms`,
  });
  const router = new ReplicaRouter(config.router, {
    clock: new ManualClock(),
    logger: {
      ...silentLogger,
      warn: (m, f) => void warnings.push([m, f]),
    },
    poolFactory: (url) => {
      const host = new URL(url).hostname;
      const pool = new FakePool(host !== "primary");
      pools.set(host, pool);
      return pool;
    },
  });
  await router.health.checkAll();
  await router.lagMonitor.sampleAll();
  const cluster = router.clusters[0]!;
  expect(cluster.serving.map((n) => n.name)).toEqual([
    "replica_1",
    "replica_2",
  ]);
  const pool = (host: string) => pools.get(host)!;
  return { router, cluster, pool, warnings };
}

/** Lets every settled promise's callbacks run (no timers involved). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe("role watch", () => {
  it("takes a replica that answers in_recovery=false out of the serving set after one tick, and logs it", async () => {
    const { router, cluster, pool, warnings } = await setup();
    pool("r2").inRecovery = false;
    router.roleWatch.tick();
    await flush();
    expect(cluster.serving.map((n) => n.name)).toEqual(["replica_1"]);
    const r2 = cluster.replicas[1]!;
    expect(r2.health.verdict).toBe("not_a_replica");
    expect(r2.state({})).toBe("not_a_replica");
    expect(warnings.map(([m]) => m)).toContain(
      "replica is no longer in recovery (promoted?): taken out of rotation at once",
    );
    // Still a replica: nothing changes.
    expect(cluster.replicas[0]!.health.verdict).toBe("healthy");
    // A node already known not to be a replica is not asked again.
    const before = pool("r2").roleChecks;
    router.roleWatch.tick();
    await flush();
    expect(pool("r2").roleChecks).toBe(before);
    await router.close();
  });

  it("abandons reads in flight on the promoted replica; their callers are served elsewhere", async () => {
    const { router, cluster, pool } = await setup();
    pool("r2").hangReads = true;
    // Round-robin: one read goes to each replica; the one on replica_2 hangs.
    const reads = [0, 1].map(async () => {
      const db = router.getReadConnection();
      await db.queryAll`SELECT 1 AS served`;
      return db.servedBy;
    });
    await flush();
    const r2 = cluster.replicas[1]!;
    expect(r2.attemptCount).toBe(1);
    pool("r2").inRecovery = false;
    router.roleWatch.tick();
    expect((await Promise.all(reads)).sort()).toEqual([
      "replica_1",
      "replica_1",
    ]);
    expect(r2.attemptCount).toBe(0);
    await router.close();
  });

  it("a hung check blocks no other node, is never duplicated, and is given up after its timeout", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { router, cluster, pool } = await setup();
    pool("r1").hangRoleCheck = true;
    for (let i = 0; i < 3; i++) {
      router.roleWatch.tick();
      await flush();
    }
    expect(pool("r1").roleChecks).toBe(1);
    expect(pool("r2").roleChecks).toBe(3);
    // replica_2 is promoted while replica_1's check still hangs: found at the next tick.
    pool("r2").inRecovery = false;
    router.roleWatch.tick();
    await flush();
    expect(cluster.serving.map((n) => n.name)).toEqual(["replica_1"]);
    expect(pool("r1").roleChecks).toBe(1);
    // The timeout destroys the hung check's connection; the node is checked again.
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS);
    expect(pool("r1").destroyed).toBe(1);
    expect(router.roleWatch.checksInFlight).toBe(0);
    pool("r1").hangRoleCheck = false;
    router.roleWatch.tick();
    await flush();
    expect(pool("r1").roleChecks).toBe(2);
    // A hang is inconclusive: replica_1 keeps serving.
    expect(cluster.serving.map((n) => n.name)).toEqual(["replica_1"]);
    await router.close();
  });

  it("a checkout stuck past the timeout stays the node's only check; its late connection goes back unused", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { router, pool } = await setup();
    const r1 = pool("r1");
    r1.hangConnect = true;
    router.roleWatch.tick();
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS * 3);
    for (let i = 0; i < 3; i++) {
      router.roleWatch.tick();
      await flush();
    }
    expect(r1.pendingConnects).toHaveLength(1);
    expect(pool("r2").roleChecks).toBe(4);
    // pg's own connection timeout would end it; here the connection arrives late.
    r1.hangConnect = false;
    const client = await r1.connect();
    r1.pendingConnects[0]!(client);
    await flush();
    expect(r1.returned).toBe(1);
    expect(r1.roleChecks).toBe(0);
    router.roleWatch.tick();
    await flush();
    expect(r1.roleChecks).toBe(1);
    await router.close();
  });

  it("does not check disabled, unhealthy or not_a_replica nodes", async () => {
    const { router, cluster, pool } = await setup();
    const [r1, r2] = cluster.replicas;
    r1!.disable();
    r2!.health.recordProbe({ ok: false, error: "down" }, null);
    r2!.health.recordProbe({ ok: false, error: "down" }, null);
    r2!.health.recordProbe({ ok: false, error: "down" }, null);
    expect(r2!.health.verdict).toBe("unhealthy");
    router.roleWatch.tick();
    await flush();
    expect(pool("r1").roleChecks + pool("r2").roleChecks).toBe(0);
    expect(router.roleWatch.checksStarted).toBe(0);
    await router.close();
  });
});

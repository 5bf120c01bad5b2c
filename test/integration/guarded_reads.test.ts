/**
 * Read-your-writes reads in one round trip (nodes/guarded_read.ts): the
 * replica's replay check and the read go in one flight on one connection,
 * against a real primary and 2 streaming replicas:
 * - the flight returns the read's rows, parsed exactly as pg's own query
 *   parses them, once the replica has replayed the token;
 * - a replica behind the token, a session under REPEATABLE READ (whose
 *   snapshot would predate the check) and a server out of recovery are
 *   misses, never rows; a check whose prepared statement is gone is a miss
 *   too, and the next flight prepares it again; the read's own error
 *   reaches the caller; the connection stays usable after each;
 * - through the router, a token read asks no separate replay question when
 *   its replica has replayed the token, and never serves a stale row when
 *   it has not (paused replay), whatever the session's isolation default.
 */
import pg from "pg";
import {
  afterAll,
  afterEach,
  beforeAll,
  describe,
  expect,
  it,
  vi,
} from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { parseToken } from "../../backend/database/router/consistency/consistency";
import {
  formatLsn,
  parseLsn,
} from "../../backend/database/router/lag/lag_tracker";
import {
  GuardedRead,
  ReplayGuardMiss,
} from "../../backend/database/router/nodes/guarded_read";
import { DbNode } from "../../backend/database/router/nodes/db_node";
import { serializeParams } from "../../backend/database/router/nodes/pipelined_write";
import { RouterMetrics } from "../../backend/database/metrics/router_metrics";
import type { WriteConnection } from "../../backend/database/router/connections";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  runWithRequestContext,
  type RequestContext,
} from "../../backend/database/router/base/request_context";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { eventually, sql, withFreshCluster } from "./helpers/clusters";
import { report } from "../support/verbose";

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await withFreshCluster(2);
  await sql(
    cluster.primary.url,
    `CREATE TABLE gr (id bigserial PRIMARY KEY, n int NOT NULL, big int8, price numeric(12,2),
       at timestamptz, doc jsonb, flag bool, note text)`,
  );
  await sql(
    cluster.primary.url,
    `INSERT INTO gr (n, big, price, at, doc, flag, note)
     VALUES (1, 9007199254740993, 12.5, '2026-05-01T10:00:00Z', '{"a":[1,2]}', true, NULL)`,
  );
});

afterAll(async () => {
  await cluster?.destroy();
});

const pause = (i: number) =>
  sql(cluster.replicas[i]!.url, "SELECT pg_wal_replay_pause()");
const resume = (i: number) =>
  sql(cluster.replicas[i]!.url, "SELECT pg_wal_replay_resume()");

async function primaryLsn(): Promise<bigint> {
  const [r] = await sql(
    cluster.primary.url,
    "SELECT pg_current_wal_lsn()::text AS lsn",
  );
  return parseLsn(r.lsn as string);
}

/** Waits until replica `i` has replayed `lsn`. */
const replayedOn = (i: number, lsn: bigint) =>
  eventually(async () => {
    const [r] = await sql(
      cluster.replicas[i]!.url,
      "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok",
      [formatLsn(lsn)],
    );
    if (r.ok !== true) throw new Error(`replica ${i} has not replayed`);
  }, 30_000);

type Outcome =
  | { rows: Record<string, unknown>[]; replayed: bigint | null }
  | { error: Error; replayed: bigint | null };

/** Runs one guarded read on `client`. */
function guarded(
  client: pg.Client,
  text: string,
  params: unknown[],
  lsn: bigint,
): Promise<Outcome> {
  return new Promise((resolve) => {
    client.query(
      new GuardedRead(
        text,
        serializeParams(params),
        lsn,
        (err, rows, replayed) =>
          resolve(err ? { error: err, replayed } : { rows: rows!, replayed }),
      ) as unknown as pg.QueryConfig,
    );
  });
}

describe("GuardedRead on one connection", () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: cluster.replicas[0]!.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
  });

  const SELECT_ROW =
    "SELECT id, n, big, price, at, doc, flag, note FROM gr WHERE n = $1";

  it("returns the rows as pg parses them, and the replay position, once the replica has replayed the token", async () => {
    const lsn = await primaryLsn();
    await replayedOn(0, lsn);
    const got = await guarded(client, SELECT_ROW, [1], lsn);
    const plain = await client.query(SELECT_ROW, [1]);
    expect("rows" in got && got.rows).toEqual(plain.rows);
    expect(plain.rows).toHaveLength(1);
    expect(got.replayed! >= lsn).toBe(true);
  });

  it("is a miss, never rows, while the replica is behind the token; the connection stays usable", async () => {
    await pause(0);
    try {
      await eventually(async () => {
        const [p] = await sql(
          cluster.replicas[0]!.url,
          "SELECT pg_get_wal_replay_pause_state() AS s",
        );
        if (p.s !== "paused") throw new Error(`replay ${p.s}`);
      }, 30_000);
      await sql(cluster.primary.url, "INSERT INTO gr (n) VALUES (2)");
      const token = await primaryLsn();
      const got = await guarded(
        client,
        "SELECT count(*) AS c FROM gr WHERE n = $1",
        [2],
        token,
      );
      expect("error" in got && got.error).toBeInstanceOf(ReplayGuardMiss);
      expect(got.replayed).not.toBeNull();
      expect(got.replayed! < token).toBe(true);
      const after = await client.query("SELECT 1 AS one");
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      await resume(0);
    }
  });

  it("is a miss under REPEATABLE READ, whose snapshot would be taken before the check", async () => {
    const lsn = await primaryLsn();
    await replayedOn(0, lsn);
    await client.query("SET default_transaction_isolation = 'repeatable read'");
    try {
      const got = await guarded(client, SELECT_ROW, [1], lsn);
      expect("error" in got && got.error).toBeInstanceOf(ReplayGuardMiss);
    } finally {
      await client.query("RESET default_transaction_isolation");
    }
    const again = await guarded(client, SELECT_ROW, [1], lsn);
    expect("rows" in again && again.rows).toHaveLength(1);
  });

  it("is a miss after DISCARD ALL took its prepared check away, and the next flight prepares it again", async () => {
    const lsn = await primaryLsn();
    await replayedOn(0, lsn);
    expect("rows" in (await guarded(client, SELECT_ROW, [1], lsn))).toBe(true);
    await client.query("DISCARD ALL");
    const gone = await guarded(client, SELECT_ROW, [1], lsn);
    expect("error" in gone && gone.error).toBeInstanceOf(ReplayGuardMiss);
    expect(gone.replayed).toBeNull();
    const back = await guarded(client, SELECT_ROW, [1], lsn);
    expect("rows" in back && back.rows).toHaveLength(1);
  });

  it("passes the read's own error to the caller, and the connection stays usable", async () => {
    const lsn = await primaryLsn();
    await replayedOn(0, lsn);
    const got = await guarded(client, "SELECT 1 / $1::int AS q", [0], lsn);
    expect("error" in got && (got.error as { code?: string }).code).toBe(
      "22012",
    );
    const ok = await guarded(client, "SELECT 6 / $1::int AS q", [3], lsn);
    expect("rows" in ok && ok.rows).toEqual([{ q: 2 }]);
  });

  it("is a miss on a primary (no replay position; the flag for a promoted replica is in guarded_read.test.ts)", async () => {
    const primary = new pg.Client({ connectionString: cluster.primary.url });
    await primary.connect();
    try {
      const got = await guarded(primary, "SELECT 1 AS one", [], 1n);
      expect("error" in got && got.error).toBeInstanceOf(ReplayGuardMiss);
    } finally {
      await primary.end();
    }
  });
});

describe("token reads through the router", () => {
  let router: ReplicaRouter;
  let replayQuestions = 0;
  const metrics = new RouterMetrics({ defaultMetrics: false });

  /** A router over the cluster whose known replay positions come from its reads alone, not lag samples. */
  const newRouter = (observer?: RouterMetrics): ReplicaRouter =>
    new ReplicaRouter(
      loadConfig({
        DATABASE_URL: cluster.primary.url,
        READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
        REPLICA_LAG_POLL_INTERVAL: "1h",
        REPLICA_MAX_LAG_SECONDS: "3600s",
        CACHE_ENABLED: "false",
      }).router,
      { logger: silentLogger, ...(observer ? { observer } : {}) },
    );

  beforeAll(async () => {
    router = newRouter(metrics);
    metrics.attach(router.roles);
    await router.start();
    const original = DbNode.prototype.query;
    vi.spyOn(DbNode.prototype, "query").mockImplementation(function (
      this: DbNode,
      text: string,
      params?: unknown[],
    ) {
      if (text.includes("pg_last_wal_replay_lsn")) replayQuestions++;
      return original.call(this, text, params ?? []);
    } as typeof original);
  });

  afterEach(() => {
    replayQuestions = 0;
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await router?.close();
  });

  /** Inserts a row with `n` (and `added`, once that column exists); its id. */
  const insert =
    (n: number, added?: number) =>
    (db: WriteConnection): Promise<{ id: string } | null> =>
      added === undefined
        ? db.queryRow<{
            id: string;
          }>`INSERT INTO gr (n) VALUES (${n}) RETURNING id`
        : db.queryRow<{
            id: string;
          }>`INSERT INTO gr (n, added) VALUES (${n}, ${added}) RETURNING id`;

  /** A write through `on` in a request that wants a token: the row's id and that token. */
  async function write(
    row: (db: WriteConnection) => Promise<{ id: string } | null>,
    on: ReplicaRouter = router,
  ): Promise<{ id: string; token: string }> {
    const ctx: RequestContext = { servedBy: [], wantsToken: true };
    const written = await runWithRequestContext(ctx, () =>
      row(on.getWriteConnection()),
    );
    const token = await on.tokenAfterWrite(ctx.wroteCluster!, ctx);
    return { id: written!.id, token: token! };
  }

  /** A read connection of `on` carrying `token`. */
  const withToken = (token: string, on: ReplicaRouter = router) =>
    on.getReadConnection({
      consistency: { level: "read_your_writes", token: parseToken(token) },
    });

  function readBack(id: string, token: string) {
    const db = withToken(token);
    return db.queryRow<{ n: number }>`SELECT n FROM gr WHERE id = ${id}`.then(
      (row) => ({ row, servedBy: db.servedBy }),
    );
  }

  it("write then read back, 200 times: every row seen, served by replicas, with no separate replay question on most", async () => {
    let stale = 0;
    let byReplica = 0;
    for (let i = 0; i < 200; i++) {
      const { id, token } = await write(insert(1_000 + i));
      const { row, servedBy } = await readBack(id, token);
      if (row?.n !== 1_000 + i) stale++;
      if (servedBy !== "primary") byReplica++;
    }
    const misses = router.clusters[0]!.replicas.reduce(
      (n, r) => n + r.guardMisses,
      0,
    );
    report(
      `guarded reads: 200 write-then-read pairs, ${byReplica} served by a replica, ${misses} checks found it behind, ${replayQuestions} separate replay questions`,
    );
    expect(stale).toBe(0);
    expect(byReplica).toBeGreaterThan(100);
    // A replica found behind is then waited on with replay questions (they
    // are why reads still go there); one read in two asking would mean the
    // check did not travel with the read.
    expect(replayQuestions).toBeLessThan(100);
  });

  it("with replay paused on both replicas: no stale row; each read finds them behind and is answered by the primary", async () => {
    await pause(0);
    await pause(1);
    try {
      for (let i = 0; i < 20; i++) {
        const { id, token } = await write(insert(2_000 + i));
        const { row, servedBy } = await readBack(id, token);
        expect(row?.n).toBe(2_000 + i);
        expect(servedBy).toBe("primary");
      }
      expect(
        router.clusters[0]!.replicas.some((r) => r.guardMissAtMs > 0),
      ).toBe(true);
      const exported = (await metrics.render()).body;
      const behind = [
        ...exported.matchAll(
          /^read_your_writes_behind_total\{replica="replica_\d"\} (\d+)$/gm,
        ),
      ].reduce((n, m) => n + Number(m[1]), 0);
      expect(behind).toBeGreaterThan(0);
      expect(behind).toBe(
        router.clusters[0]!.replicas.reduce((n, r) => n + r.guardMisses, 0),
      );
    } finally {
      await resume(0);
      await resume(1);
    }
  });

  it("a read sends at most one check: with replay paused on both replicas, a fresh router's token read finds one behind, then waits (no check goes to the other) and the primary answers", async () => {
    const fresh = newRouter();
    await fresh.start();
    await pause(0);
    await pause(1);
    try {
      const { id, token } = await write(insert(5_000), fresh);
      const db = withToken(token, fresh);
      expect(await db.queryRow`SELECT n FROM gr WHERE id = ${id}`).toEqual({
        n: 5_000,
      });
      expect(db.servedBy).toBe("primary");
      expect(
        fresh.clusters[0]!.replicas.map((r) => r.guardMisses).sort(),
      ).toEqual([0, 1]);
    } finally {
      await resume(0);
      await resume(1);
      await fresh.close();
    }
  });

  it("a token read of a column its write's ALTER added, on a replica that has not replayed it: the row, never the replica's error", async () => {
    // A router of its own: the earlier tests left theirs' replicas marked
    // behind, whose token reads would wait instead of sending a check.
    const fresh = newRouter();
    await fresh.start();
    await pause(0);
    await pause(1);
    try {
      await sql(cluster.primary.url, "ALTER TABLE gr ADD COLUMN added int");
      const { id, token } = await write(insert(4_000, 41), fresh);
      const got = await withToken(token, fresh).queryRow<{
        added: number;
      }>`SELECT added FROM gr WHERE id = ${id}`;
      expect(got).toEqual({ added: 41 });
      // The read did go to a replica with its check, and found it behind.
      expect(
        fresh.clusters[0]!.replicas.reduce((n, r) => n + r.guardMisses, 0),
      ).toBe(1);
    } finally {
      await resume(0);
      await resume(1);
      await fresh.close();
    }
  });

  it("under a REPEATABLE READ default on the database: no stale row (the checks miss, then reads wait for replay instead)", async () => {
    const [{ db }] = await sql(
      cluster.primary.url,
      "SELECT current_database() AS db",
    );
    await sql(
      cluster.primary.url,
      `ALTER DATABASE "${db}" SET default_transaction_isolation = 'repeatable read'`,
    );
    // The setting reaches a replica's new sessions once it replayed the ALTER.
    for (const r of cluster.replicas)
      await eventually(async () => {
        const [s] = await sql(r.url, "SHOW default_transaction_isolation");
        if (s.default_transaction_isolation !== "repeatable read")
          throw new Error("not replayed yet");
      }, 30_000);
    // New sessions only: a fresh router opens fresh connections.
    const rr = newRouter();
    try {
      await rr.start();
      for (let i = 0; i < 30; i++) {
        const { id, token } = await write(insert(3_000 + i), rr);
        const got = await withToken(token, rr).queryRow<{
          n: number;
        }>`SELECT n FROM gr WHERE id = ${id}`;
        expect(got?.n).toBe(3_000 + i);
      }
      // The checks that found a REPEATABLE READ session send no more
      // there for a while (reads wait for replay instead).
      expect(rr.clusters[0]!.replicas.some((r) => !r.checkable())).toBe(true);
    } finally {
      await rr.close();
      await sql(
        cluster.primary.url,
        `ALTER DATABASE "${db}" RESET default_transaction_isolation`,
      );
    }
  });
});

/**
 * Writes that bring their WAL position (one round trip: BEGIN, the
 * statement, COMMIT, pg_current_wal_insert_lsn(), Sync) and lazy cache fences,
 * against a real primary and 2 streaming replicas:
 * - the token that came with a write is at or past its commit: a replica
 *   that has replayed it shows the row, and token reads never miss, also
 *   while replica_1's replay is paused;
 * - a statement refused in that flight surfaces the same error as when run
 *   alone and leaves its connection usable (rolled back, not destroyed);
 * - its rows parse exactly as pg's own query's, with the pool's type parsers;
 * - the cache never serves data older than a write, whether the write's
 *   fence comes from its position or from the first fill after it.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { parseToken } from "../../backend/database/router/consistency/consistency";
import { formatLsn } from "../../backend/database/router/lag/lag_tracker";
import { TransactionRolledBackError } from "../../backend/database/router/base/errors";
import { runPipelinedWrite } from "../../backend/database/router/primary/write_with_position";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  runWithRequestContext,
  type RequestContext,
} from "../../backend/database/router/base/request_context";
import { silentLogger } from "../../backend/database/router/support/logger";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import { eventually, sql, withFreshCluster } from "./helpers/clusters";

let cluster: LocalCluster;
let router: ReplicaRouter;

function newRouter(env: Record<string, string> = {}): ReplicaRouter {
  return new ReplicaRouter(
    loadConfig({
      DATABASE_URL: cluster.primary.url,
      READ_REPLICA_URLS: cluster.replicas.map((r) => r.url).join(","),
      REPLICA_LAG_POLL_INTERVAL: "200ms",
      // A paused replica stays in rotation for eventual reads.
      REPLICA_MAX_LAG_SECONDS: "60s",
      ...env,
    }).router,
    { logger: silentLogger },
  );
}

beforeAll(async () => {
  cluster = await withFreshCluster(2);
  await sql(
    cluster.primary.url,
    `CREATE TABLE wp (id bigserial PRIMARY KEY, org_id int NOT NULL, n int NOT NULL, tag text UNIQUE);
     CREATE TABLE wp_deferred (id int, CONSTRAINT wp_deferred_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)`,
  );
  router = newRouter();
  await router.start();
});

afterAll(async () => {
  await router?.close();
  await cluster?.destroy();
});

const pause = (i: number) =>
  sql(cluster.replicas[i]!.url, "SELECT pg_wal_replay_pause()");
const resume = (i: number) =>
  sql(cluster.replicas[i]!.url, "SELECT pg_wal_replay_resume()");
const wanting = (): RequestContext => ({ servedBy: [], wantsToken: true });

/** Waits until replica `i` has replayed `lsn` (text). */
const replayed = (i: number, lsn: string) =>
  eventually(async () => {
    const [r] = await sql(
      cluster.replicas[i]!.url,
      "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok",
      [lsn],
    );
    if (r.ok !== true) throw new Error(`replica ${i} has not replayed ${lsn}`);
  }, 30_000);

describe("the token that comes with a write", () => {
  it("is at or past the commit: token reads never miss the write while replica_1 is paused, and a replica past it shows the row", async () => {
    const WRITES = 150;
    const stats = { stale: 0, servedBy: {} as Record<string, number> };
    await pause(0);
    try {
      for (let i = 0; i < WRITES; i++) {
        const ctx = wanting();
        // Every fifth write is a transaction: its COMMIT brings the position.
        const row = await runWithRequestContext(ctx, () =>
          i % 5 === 4
            ? router.transaction(
                1,
                (tx) =>
                  tx.queryRow<{
                    id: string;
                  }>`INSERT INTO wp (org_id, n) VALUES (1, ${i}) RETURNING id`,
              )
            : router.getWriteConnection(1).queryRow<{
                id: string;
              }>`INSERT INTO wp (org_id, n) VALUES (1, ${i}) RETURNING id`,
        );
        const token = await router.tokenAfterWrite(ctx.wroteCluster!, ctx);
        expect(token).toMatch(/^main:[0-9A-F]+\/[0-9A-F]+$/);
        const db = router.getReadConnection({
          consistency: { level: "read_your_writes", token: parseToken(token!) },
        });
        const got = await db.queryRow`SELECT n FROM wp WHERE id = ${row!.id}`;
        if (got?.n !== i) stats.stale++;
        stats.servedBy[db.servedBy!] = (stats.servedBy[db.servedBy!] ?? 0) + 1;
        if (i % 25 === 0) {
          // Straight from replica_2 once it has replayed the token's position.
          const lsn = token!.slice(token!.indexOf(":") + 1);
          await replayed(1, lsn);
          const there = await sql(
            cluster.replicas[1]!.url,
            "SELECT n FROM wp WHERE id = $1",
            [row!.id],
          );
          expect(there).toEqual([{ n: i }]);
        }
      }
    } finally {
      await resume(0);
    }
    expect(stats.stale).toBe(0);
    expect(stats.servedBy.replica_1).toBeUndefined();
    expect(Object.values(stats.servedBy).reduce((a, b) => a + b, 0)).toBe(
      WRITES,
    );
  });
});

describe("under synchronous_commit = off", () => {
  it("the token is still past the commit (COMMIT returns before its record is written): 300 write-then-read pairs, 0 stale", async () => {
    const [{ db }] = await sql(
      cluster.primary.url,
      "SELECT current_database() AS db",
    );
    // New sessions only: the router below opens its own.
    await sql(
      cluster.primary.url,
      `ALTER DATABASE "${db}" SET synchronous_commit = off`,
    );
    const off = newRouter({ CACHE_ENABLED: "false" });
    let stale = 0;
    let byReplica = 0;
    try {
      await off.start();
      const s = await off.getWriteConnection(1)
        .queryRow`SELECT current_setting('synchronous_commit') AS v`;
      expect(s!.v).toBe("off");
      for (let i = 0; i < 300; i++) {
        const ctx = wanting();
        // Every third write runs in a transaction with SET LOCAL instead.
        const row = await runWithRequestContext(ctx, () =>
          i % 3 === 2
            ? off.transaction(1, async (tx) => {
                await tx.exec`SET LOCAL synchronous_commit = off`;
                return tx.queryRow<{
                  id: string;
                }>`INSERT INTO wp (org_id, n) VALUES (3, ${i}) RETURNING id`;
              })
            : off.getWriteConnection(1).queryRow<{
                id: string;
              }>`INSERT INTO wp (org_id, n) VALUES (3, ${i}) RETURNING id`,
        );
        const token = await off.tokenAfterWrite(ctx.wroteCluster!, ctx);
        const read = off.getReadConnection({
          consistency: { level: "read_your_writes", token: parseToken(token!) },
        });
        const got = await read.queryRow`SELECT n FROM wp WHERE id = ${row!.id}`;
        if (got?.n !== i) stale++;
        if (read.servedBy !== "primary") byReplica++;
      }
    } finally {
      await off.close();
      await sql(
        cluster.primary.url,
        `ALTER DATABASE "${db}" RESET synchronous_commit`,
      );
    }
    expect(stale).toBe(0);
    // Replicas served them (else the test says nothing about tokens).
    expect(byReplica).toBeGreaterThan(30);
  });
});

describe("a token asked for with nothing written since a WAL segment switch", () => {
  it("is a position replicas reach (the insert position is past the new segment's header; replay stops at the boundary)", async () => {
    await sql(cluster.primary.url, "SELECT pg_switch_wal()");
    const [raw] = await sql(
      cluster.primary.url,
      "SELECT pg_current_wal_insert_lsn()::text AS lsn",
    );
    const token = parseToken(await router.consistencyToken("main"));
    // Skipped when something else wrote WAL in between (then no header to skip).
    if ((raw.lsn as string).endsWith("000028"))
      expect(token.lsn % 8192n).toBe(0n);
    for (let i = 0; i < cluster.replicas.length; i++)
      await replayed(i, formatLsn(token.lsn));
    const read = router.getReadConnection({
      consistency: { level: "read_your_writes", token },
    });
    expect(await read.queryRow`SELECT 1 AS one`).toEqual({ one: 1 });
    expect(read.servedBy).not.toBe("primary");
  });
});

describe("a transaction whose failed statement was caught inside it", () => {
  it("is rolled back by PostgreSQL at COMMIT, and the router says so (with or without a token wanted): no write taken for committed", async () => {
    for (const ctx of [wanting(), undefined]) {
      const tag = `caught-${ctx === undefined ? "plain" : "token"}`;
      const run = () =>
        router.transaction(1, async (tx) => {
          await tx.exec`INSERT INTO wp (org_id, n, tag) VALUES (1, 1, ${tag})`;
          // A duplicate tag: 23505, caught, and the function goes on.
          await tx.exec`INSERT INTO wp (org_id, n, tag) VALUES (1, 2, ${tag})`.catch(
            () => undefined,
          );
          return "done";
        });
      await expect(
        ctx === undefined ? run() : runWithRequestContext(ctx, run),
      ).rejects.toBeInstanceOf(TransactionRolledBackError);
      expect(
        await sql(cluster.primary.url, "SELECT id FROM wp WHERE tag = $1", [
          tag,
        ]),
      ).toEqual([]);
      expect(ctx?.wroteCluster).toBeUndefined();
    }
    // The connection went back usable.
    expect(
      await router.transaction(1, (tx) => tx.queryRow`SELECT 1 AS one`),
    ).toEqual({ one: 1 });
  });
});

describe("a statement refused in the flight", () => {
  it("surfaces the same error as alone and leaves its one connection usable", async () => {
    const one = newRouter({ DB_MAX_CONNECTIONS: "1", CACHE_ENABLED: "false" });
    await one.start();
    const plain = new pg.Pool({
      connectionString: cluster.primary.url,
      max: 1,
    });
    try {
      await sql(
        cluster.primary.url,
        "INSERT INTO wp (org_id, n, tag) VALUES (2, 0, 'dup'); INSERT INTO wp_deferred VALUES (1)",
      );
      const pid = async () =>
        (await one.getWriteConnection(2)
          .queryRow`SELECT pg_backend_pid() AS pid`)!.pid;
      const before = await pid();
      for (const [text, params] of [
        ["INSERT INTO wp (org_id, n, tag) VALUES ($1, $2, $3)", [2, 1, "dup"]],
        // Checked at COMMIT: refused in the flight's third statement.
        ["INSERT INTO wp_deferred VALUES ($1)", [1]],
        ["INSERT INTO wp (org_id, n) VALUES ($1, $2)", [2, "not a number"]],
      ] as const) {
        const alone = await plain
          .query(text, [...params])
          .catch((e: unknown) => e);
        const flight = await runWithRequestContext(wanting(), () =>
          one.getWriteConnection(2).rawExec(text, ...params),
        ).catch((e: unknown) => e);
        expect(flight).toBeInstanceOf(pg.DatabaseError);
        const fields = (e: unknown) => {
          const d = e as pg.DatabaseError;
          return [d.code, d.message, d.detail, d.constraint, d.table];
        };
        expect(fields(flight)).toEqual(fields(alone));
        // Same connection (not destroyed), not left inside a failed block.
        expect(await pid()).toBe(before);
        const ctx = wanting();
        const ok = await runWithRequestContext(
          ctx,
          () =>
            one.getWriteConnection(2)
              .queryRow`INSERT INTO wp (org_id, n) VALUES (2, 9) RETURNING id`,
        );
        const seen = await plain.query("SELECT 1 FROM wp WHERE id = $1", [
          ok!.id,
        ]);
        expect(seen.rowCount).toBe(1);
        expect(ctx.writePositions?.get("main")).toBeTypeOf("bigint");
      }
      expect(one.clusters[0]!.primary.pool.totalCount).toBe(1);
    } finally {
      await plain.end();
      await one.close();
    }
  });
});

describe("statements that cannot run in the flight's block", () => {
  it("VACUUM and CREATE INDEX CONCURRENTLY run alone (their token is asked for); after DISCARD ALL dropped the flight's statements the next write still brings its position, once", async () => {
    const one = newRouter({ DB_MAX_CONNECTIONS: "1", CACHE_ENABLED: "false" });
    await one.start();
    try {
      const run = async (text: string) => {
        const ctx = wanting();
        await runWithRequestContext(ctx, () =>
          one.getWriteConnection(3).rawExec(text),
        );
        return ctx.writePositions?.get("main");
      };
      expect(await run("INSERT INTO wp (org_id, n) VALUES (3, 0)")).toBeTypeOf(
        "bigint",
      );
      expect(await run("VACUUM wp")).toBeNull();
      expect(await run("CREATE INDEX CONCURRENTLY wp_n ON wp (n)")).toBeNull();
      expect(await run("DISCARD ALL")).toBeNull();
      expect(
        await run("INSERT INTO wp (org_id, n, tag) VALUES (3, 1, 'once')"),
      ).toBeTypeOf("bigint");
      const rows = await sql(
        cluster.primary.url,
        "SELECT count(*)::int AS n FROM wp WHERE tag = 'once'",
      );
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await one.close();
    }
  });
});

/** A one-connection pool on the primary whose int8 (OID 20) parser is `parse`; pg's own for the rest. */
function poolParsingInt8(parse: (v: string) => unknown): pg.Pool {
  return new pg.Pool({
    connectionString: cluster.primary.url,
    max: 1,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === 20
          ? parse
          : pg.types.getTypeParser(oid, format as "text")) as never,
    },
  });
}

describe("rows of a write that brings its position", () => {
  it("parse exactly as pg's own query's, with the pool's own type parsers", async () => {
    const pool = poolParsingInt8((v) => `int8:${v}`);
    try {
      const text = `SELECT $1::int8 AS big, $2::numeric AS num, $3::timestamptz AS at,
        $4::jsonb AS doc, $5::bool AS yes, $6::text AS none, $7::int[] AS arr,
        $8::bytea AS bin, '2024-02-29'::date AS day, 1.5::float8 AS f`;
      const params = [
        "9007199254740993",
        "12.50",
        new Date("2026-05-01T12:00:00Z"),
        { a: [1, "b"] },
        true,
        null,
        [1, 2, 3],
        Buffer.from([0, 255]),
      ];
      const piped = await runPipelinedWrite(pool, text, params);
      const plain = await pool.query(text, params);
      expect(piped.rows).toEqual(plain.rows);
      expect(piped.rows[0]!.big).toBe("int8:9007199254740993");
      expect(piped.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    } finally {
      await pool.end();
    }
  });
});

describe("a type parser that throws on a row of the write", () => {
  it("rejects the write with the parser's error, as pg's own query does, and keeps the connection usable", async () => {
    const pool = poolParsingInt8(() => {
      throw new Error("bad int8");
    });
    try {
      const text = "SELECT $1::int8 AS big";
      await expect(pool.query(text, ["1"])).rejects.toThrow("bad int8");
      // Before the fix the throw escaped pg's socket handler: an uncaught
      // exception that ends the process.
      await expect(runPipelinedWrite(pool, text, ["1"])).rejects.toThrow(
        "bad int8",
      );
      const ok = await pool.query("SELECT 1::int AS one");
      expect(ok.rows).toEqual([{ one: 1 }]);
    } finally {
      await pool.end();
    }
  });
});

describe("the cache after writes, with lazy fences", () => {
  const ORG = 7;
  const count = (r: ReplicaRouter) => {
    const ctx: RequestContext = { servedBy: [] };
    return runWithRequestContext(ctx, async () => ({
      n: await r.cachedRead(
        {
          namespace: "wp.count",
          key: [],
          tables: ["wp"],
          ttlMs: 600_000,
          orgId: ORG,
        },
        async (db) =>
          (await db.queryRow<{
            n: number;
          }>`SELECT count(*)::int AS n FROM wp WHERE org_id = ${ORG}`)!.n,
      ),
      cached: ctx.servedBy.includes("cache"),
    }));
  };
  const write = (r: ReplicaRouter, withToken: boolean) => {
    const insert = () =>
      r.getWriteConnection(ORG)
        .exec`INSERT INTO wp (org_id, n) VALUES (${ORG}, 1)`;
    return withToken ? runWithRequestContext(wanting(), insert) : insert();
  };

  it("never serves a count without a write that returned, while replica_1 (in rotation) replays nothing", async () => {
    expect(router.cache.enabled).toBe(true);
    let expected = (await count(router)).n;
    const stats = { cacheHits: 0, wrongHits: 0 };
    await pause(0);
    try {
      for (let k = 0; k < 40; k++) {
        await write(router, k % 2 === 0);
        expected++;
        for (let j = 0; j < 8; j++) {
          const got = await count(router);
          if (got.cached) {
            stats.cacheHits++;
            if (got.n !== expected) stats.wrongHits++;
          }
        }
      }
      // Writers and readers at once; afterwards every hit shows every write.
      await Promise.all([
        ...Array.from({ length: 4 }, async (_, w) => {
          for (let k = 0; k < 20; k++) await write(router, (k + w) % 2 === 0);
        }),
        ...Array.from({ length: 4 }, async () => {
          for (let k = 0; k < 40; k++) await count(router);
        }),
      ]);
      expected += 80;
      for (let j = 0; j < 40; j++) {
        const got = await count(router);
        if (got.cached) {
          stats.cacheHits++;
          if (got.n !== expected) stats.wrongHits++;
        }
      }
    } finally {
      await resume(0);
    }
    expect(stats.wrongHits).toBe(0);
    // The cache was in play.
    expect(stats.cacheHits).toBeGreaterThan(20);
  });
});

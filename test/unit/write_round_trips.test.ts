/**
 * What a write costs the primary, counted statement by statement on a fake
 * primary (helpers/fake_wire.ts) with the cache on (the default): a write
 * whose caller wants no token sends its own statement and nothing else (no
 * fence, no BEGIN/COMMIT); a write in a request that wants a token sends one
 * flight (BEGIN, the statement, COMMIT, the WAL position, one Sync; all but
 * the statement prepared once per connection) and the token then costs
 * nothing; a refused statement in that flight surfaces the server's error,
 * and the connection, rolled back, goes back to the pool.
 */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { PipelinedWrite } from "../../backend/database/router/nodes/pipelined_write";
import { pipelinable } from "../../backend/database/router/primary/pipelinable";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import {
  runWithRequestContext,
  type RequestContext,
} from "../../backend/database/router/base/request_context";
import { ManualClock } from "../../backend/database/router/support/clock";
import { silentLogger } from "../../backend/database/router/support/logger";
import { FakePool } from "./helpers/fake_pool";
import { FakeWirePool, serverError, type Answer } from "./helpers/fake_wire";

const INSERT = "INSERT INTO revenues (org_id, amount) VALUES ($1, $2)";
const POSITION = "SELECT pg_current_wal_insert_lsn()::text";
const FLIGHT = ["BEGIN", INSERT, "COMMIT", POSITION];

/**
 * A router over a fake primary. Not started: no health or lag timers, so
 * every statement the primary sees comes from the test's own calls.
 */
function setup(env: Record<string, string> = {}) {
  const primary = new FakeWirePool();
  const router = new ReplicaRouter(
    loadConfig({
      DATABASE_URL: "postgres://u:pw@primary:5432/app",
      READ_REPLICA_URLS: "postgres://u:pw@r1:5432/app",
      ...env,
    }).router,
    {
      clock: new ManualClock(),
      logger: silentLogger,
      poolFactory: (url) =>
        new URL(url).hostname === "primary" ? primary : new FakePool(true),
    },
  );
  const write = (orgId = 1) =>
    router.getWriteConnection(orgId).rawExec(INSERT, orgId, 5);
  return { router, primary, write };
}

const wanting = (): RequestContext => ({ servedBy: [], wantsToken: true });

/** Fills a cached read of org 1's revenues, so writes to them have something to invalidate. */
async function warmCache(router: ReplicaRouter): Promise<void> {
  await router.cachedRead(
    { namespace: "t.sum", key: [], tables: ["revenues"], ttlMs: 60_000 },
    async (db) => (await db.rawQueryAll("SELECT 1 AS one")).length,
  );
}

describe("a write whose caller wants no token", () => {
  it.each([
    ["outside a request", undefined],
    ["in a request that wants none", { servedBy: [] } as RequestContext],
  ])(
    "sends only its own statement, with the cache on and holding its table (%s)",
    async (_label, ctx) => {
      const { router, primary, write } = setup();
      expect(router.cache.enabled).toBe(true);
      await warmCache(router);
      const before = primary.statements.length;
      if (ctx === undefined) await write();
      else await runWithRequestContext(ctx, write);
      expect(primary.statements.slice(before)).toEqual([INSERT]);
      expect(primary.flights).toEqual([]);
    },
  );

  it("a transaction sends BEGIN, its statements and COMMIT, nothing else", async () => {
    const { router, primary } = setup();
    await warmCache(router);
    const before = primary.statements.length;
    await router.transaction(1, (tx) => tx.rawExec(INSERT, 1, 5));
    expect(primary.statements.slice(before)).toEqual([
      "BEGIN",
      INSERT,
      "COMMIT",
    ]);
  });

  it("invalidating the cache asks the primary nothing; the next fill of the scope does, once", async () => {
    const { router, primary } = setup();
    await warmCache(router);
    const before = primary.statements.length;
    await router.cache.invalidate("main", ["revenues"], undefined);
    await router.cache.invalidate("main", null, 1);
    expect(primary.statements.length).toBe(before);
    await warmCache(router);
    const asked = primary.statements
      .slice(before)
      .filter((t) => t.includes("pg_current_wal_insert_lsn()"));
    expect(asked).toEqual(["SELECT pg_current_wal_insert_lsn()::text AS lsn"]);
  });
});

describe("a write in a request that wants a token", () => {
  it("sends one flight (BEGIN, the statement, COMMIT, the position) and the token costs no statement", async () => {
    const { router, primary, write } = setup();
    const ctx = wanting();
    await runWithRequestContext(ctx, write);
    expect(primary.flights.map((f) => f.map((s) => s.text))).toEqual([FLIGHT]);
    expect(primary.flights[0]!.map((s) => s.statement)).toEqual([
      "rr_begin",
      "",
      "rr_commit",
      "rr_wal_position",
    ]);
    expect(primary.flights[0]![1]!.values).toEqual(["1", "5"]);
    expect(ctx.wroteCluster).toBe("main");
    const sent = primary.statements.length;
    expect(await router.tokenAfterWrite("main", ctx)).toBe("main:0/3000A58");
    await runWithRequestContext(ctx, async () =>
      expect(await router.getWriteConnection(1).consistencyToken()).toBe(
        "main:0/3000A58",
      ),
    );
    expect(primary.statements.length).toBe(sent);
    expect(primary.releases).toEqual([undefined]);
  });

  it("prepares BEGIN, COMMIT and the position once per connection, and again after DISCARD ALL dropped them", async () => {
    const { primary, write } = setup();
    for (let i = 0; i < 3; i++) {
      const ctx = wanting();
      await runWithRequestContext(ctx, write);
      expect(ctx.writePositions?.get("main")).toBe(0x3000a58n);
    }
    expect([...primary.named.keys()]).toEqual([
      "rr_begin",
      "rr_commit",
      "rr_wal_position",
    ]);
    expect(primary.statements).toEqual([...FLIGHT, ...FLIGHT, ...FLIGHT]);
    // Gone (DISCARD ALL): BEGIN's Bind fails before anything ran; the write
    // is sent again with fresh Parse messages.
    primary.named.clear();
    const again = wanting();
    await runWithRequestContext(again, write);
    expect(again.writePositions?.get("main")).toBe(0x3000a58n);
    expect(primary.flights).toHaveLength(5);
    expect(primary.flights[3]).toEqual([]);
    expect(primary.named.size).toBe(3);
    expect(primary.releases).toEqual(Array(4).fill(undefined));
  });

  it("a connection whose names are taken parses the flight's statements every time", async () => {
    const { primary, write } = setup();
    primary.named.set("rr_begin", "BEGIN");
    for (let i = 0; i < 2; i++) {
      const ctx = wanting();
      await runWithRequestContext(ctx, write);
      expect(ctx.writePositions?.get("main")).toBe(0x3000a58n);
    }
    expect(primary.statements).toEqual([...FLIGHT, ...FLIGHT]);
    expect(
      primary.flights
        .slice(1)
        .flat()
        .map((s) => s.statement),
    ).toEqual(Array(8).fill(""));
  });

  it("returns the statement's rows", async () => {
    const { router, primary } = setup();
    primary.answer = (t) =>
      t.startsWith("INSERT") ? { rows: [{ id: "7" }], tag: "INSERT 0 1" } : {};
    const rows = await runWithRequestContext(wanting(), () =>
      router.getWriteConnection(1).rawQueryAll(`${INSERT} RETURNING id`, 1, 5),
    );
    expect(rows).toEqual([{ id: "7" }]);
  });

  it("the token covers every write of the request: the highest position, or a question when one write's position is unknown", async () => {
    const { router, primary, write } = setup();
    const ctx = wanting();
    primary.lsn = "0/5000";
    await runWithRequestContext(ctx, write);
    primary.lsn = "0/4000"; // a concurrent write read a lower one
    await runWithRequestContext(ctx, write);
    expect(await router.tokenAfterWrite("main", ctx)).toBe("main:0/5000");
    // Several statements in one string run alone, their position unknown.
    await runWithRequestContext(ctx, () =>
      router
        .getWriteConnection(1)
        .rawExec("CREATE TABLE x (a int); CREATE TABLE y (a int)"),
    );
    const sent = primary.statements.length;
    primary.lsn = "0/6000";
    expect(await router.tokenAfterWrite("main", ctx)).toBe("main:0/6000");
    expect(primary.statements.slice(sent)).toEqual([
      "SELECT pg_current_wal_insert_lsn()::text AS lsn",
    ]);
  });

  it("a transaction's COMMIT brings the position in the same flight", async () => {
    const { router, primary } = setup();
    const ctx = wanting();
    await runWithRequestContext(ctx, () =>
      router.transaction(1, (tx) => tx.rawExec(INSERT, 1, 5)),
    );
    expect(primary.statements).toEqual(["BEGIN", INSERT, "COMMIT", POSITION]);
    expect(primary.flights.map((f) => f.map((s) => s.text))).toEqual([
      ["COMMIT", POSITION],
    ]);
    const sent = primary.statements.length;
    expect(await router.tokenAfterWrite("main", ctx)).toBe("main:0/3000A58");
    expect(primary.statements.length).toBe(sent);
  });

  it("a refused statement surfaces the server's error; the block is rolled back and the connection kept", async () => {
    const { primary, write } = setup();
    const duplicate = serverError("23505", "duplicate key value");
    primary.answer = (t): Answer => (t === INSERT ? { error: duplicate } : {});
    const ctx = wanting();
    await expect(runWithRequestContext(ctx, write)).rejects.toBe(duplicate);
    expect(primary.statements).toEqual(["BEGIN", INSERT, "ROLLBACK"]);
    expect(primary.releases).toEqual([undefined]);
    // Nothing committed: the request's token, if asked, is the position now.
    expect(ctx.writePositions?.get("main")).toBeUndefined();
    primary.answer = () => ({});
    await runWithRequestContext(ctx, write);
    expect(primary.statements.slice(3)).toEqual(FLIGHT);
  });

  it("a COMMIT the server refuses (a deferred constraint) surfaces its error; the block is over, no ROLLBACK", async () => {
    const { primary, write } = setup();
    const deferred = serverError("23505", "duplicate key value");
    primary.answer = (t): Answer => (t === "COMMIT" ? { error: deferred } : {});
    await expect(runWithRequestContext(wanting(), write)).rejects.toBe(
      deferred,
    );
    expect(primary.statements).toEqual(["BEGIN", INSERT, "COMMIT"]);
    expect(primary.releases).toEqual([undefined]);
  });

  it("a position read that fails after COMMIT still returns the write; the token is then asked for", async () => {
    const { router, primary } = setup();
    primary.answer = (t) =>
      t.startsWith("INSERT") ? { rows: [{ id: "7" }], tag: "INSERT 0 1" } : {};
    primary.positionError = serverError("57014", "canceling statement");
    const ctx = wanting();
    const rows = await runWithRequestContext(ctx, () =>
      router.getWriteConnection(1).rawQueryAll(`${INSERT} RETURNING id`, 1, 5),
    );
    expect(rows).toEqual([{ id: "7" }]);
    expect(primary.releases).toEqual([undefined]);
    expect(ctx.writePositions?.get("main")).toBeNull();
    expect(primary.named.size).toBe(3);
    const sent = primary.statements.length;
    expect(await router.tokenAfterWrite("main", ctx)).toBe("main:0/3000A58");
    expect(primary.statements.slice(sent)).toEqual([
      "SELECT pg_current_wal_insert_lsn()::text AS lsn",
    ]);
  });

  it("a parameter pg cannot serialise fails before anything is sent or checked out", async () => {
    const { router, primary } = setup();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(
      runWithRequestContext(wanting(), () =>
        router.getWriteConnection(1).rawExec(INSERT, 1, circular),
      ),
    ).rejects.toThrow(TypeError);
    expect(primary.flights).toEqual([]);
    expect(primary.releases).toEqual([]);
  });
});

describe("pipelinable", () => {
  it.each([
    [INSERT, true],
    ["  update t set a = 1 where id = $1;", true],
    ["/* c /* nested */ */ -- x\n DELETE FROM t", true],
    ["(SELECT nextval('s'))", true],
    ["WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x", true],
    ["MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", true],
    ["INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", false],
    ["CREATE INDEX CONCURRENTLY i ON t (a)", false],
    ["VACUUM t", false],
    ["CALL p()", false],
    ["CREATE TABLE t (a int)", false],
    ["COPY t FROM STDIN", false],
    ["BEGIN", false],
    ["start transaction", false],
    ["COMMIT", false],
    ["end", false],
    ["ROLLBACK", false],
    ["SAVEPOINT a", false],
    ["PREPARE TRANSACTION 'x'", false],
    ["", false],
    ["-- only a comment", false],
    ["/* unterminated", false],
  ])("%s → %s", (sql, expected) => {
    expect(pipelinable(sql)).toBe(expected);
  });
});

describe("pg giving a write's flight up (its query_timeout) part way", () => {
  /** Sends a flight to a connection that records nothing and answers nothing. */
  function sent(): PipelinedWrite {
    const write = new PipelinedWrite(INSERT, [1, 5]);
    write.submit({
      stream: {},
      parse: () => undefined,
      bind: () => undefined,
      describe: () => undefined,
      execute: () => undefined,
      sync: () => undefined,
      sendCopyFail: () => undefined,
    });
    return write;
  }
  const timeout = () => new Error("Query read timeout");

  it("before the COMMIT's answer: the write fails (its outcome is unknown to the caller, as for any statement)", async () => {
    const write = sent();
    write.handleCommandComplete({ text: "BEGIN" });
    write.handleCommandComplete({ text: "INSERT 0 1" });
    write.callback(timeout());
    await expect(write.done).rejects.toThrow("Query read timeout");
  });

  it("after the COMMIT's answer: the write succeeded, its position unknown, and the connection is not reused", async () => {
    const write = sent();
    write.handleCommandComplete({ text: "BEGIN" });
    write.handleCommandComplete({ text: "INSERT 0 1" });
    write.handleCommandComplete({ text: "COMMIT" });
    write.callback(timeout());
    await expect(write.done).resolves.toMatchObject({ lsn: null });
    expect(write.abandoned).toBe(true);
  });
});

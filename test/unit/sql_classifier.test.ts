import { describe, expect, it } from "vitest";
import { ManualClock } from "../../backend/database/router/support/clock";
import {
  classifierCacheSize,
  classifySqlCached,
  SQL_CLASSIFIER_CACHE_MAX_ENTRIES,
} from "../../backend/database/router/sql/classification_cache";
import { classifySql } from "../../backend/database/router/sql/sql_classifier";
import { tokenizeSql } from "../../backend/database/router/sql/sql_tokenizer";
import { SqlTokenizeError } from "../../backend/database/router/sql/sql_tokens";
import {
  VolatileFunctionCatalog,
  type CatalogQuerier,
} from "../../backend/database/router/sql/volatile_functions";
import { STATEMENTS } from "../fixtures/sql_statements";
import { report } from "../support/verbose";

type Verdict = "read" | "write";

// Each statement marked by hand. A "write" here may be a read PostgreSQL would
// run fine on a replica; those are the deliberate conservative choices.
const CASES: ReadonlyArray<readonly [string, Verdict]> = [
  // plain reads, joins, CTEs, set operations
  ["SELECT 1", "read"],
  ["select * from accounts where org_id = $1 and id = $2", "read"],
  [
    "SELECT a.id, b.total FROM a JOIN b ON a.id = b.a_id LEFT JOIN c USING (id) WHERE a.x IN (1, 2)",
    "read",
  ],
  ["SELECT count(*) FROM t", "read"],
  ["SELECT coalesce(max(id), 0), nullif(v, '') FROM t", "read"],
  ["SELECT now(), current_timestamp, clock_timestamp(), random()", "read"],
  ["SELECT currval('s')", "write"],
  ["SELECT lastval()", "write"],
  ["SELECT * FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = t.id)", "read"],
  ["WITH x AS (SELECT id FROM t) SELECT * FROM x", "read"],
  [
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
    "read",
  ],
  ["WITH x AS MATERIALIZED (SELECT 1) SELECT * FROM x", "read"],
  ["VALUES (1), (2)", "read"],
  ["TABLE t", "read"],
  ["(SELECT 1) UNION (SELECT 2)", "read"],
  ["((SELECT 1))", "read"],
  ["SELECT 1 INTERSECT SELECT 1 EXCEPT SELECT 2", "read"],
  ["SELECT 1;", "read"],
  ["SELECT 1 ;  \n", "read"],
  ["SHOW server_version", "read"],
  ["SHOW TRANSACTION ISOLATION LEVEL", "read"],
  [
    "SELECT sum(x) OVER (PARTITION BY g ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
    "read",
  ],
  [
    "SELECT count(*) FILTER (WHERE x > 0), percentile_cont(0.5) WITHIN GROUP (ORDER BY x) FROM t",
    "read",
  ],
  [
    "SELECT CAST(x AS numeric(10, 2)), y::varchar(20), z::character varying(3) FROM t",
    "read",
  ],
  ["SELECT substring('abcdef' FROM 2 FOR 3)", "read"],
  ["SELECT * FROM t FOR READ ONLY", "read"],
  ["SELECT * FROM generate_series(1, 3) AS g(n)", "read"],
  ["SELECT ARRAY[1, 2, 3], ROW(1, 2)", "read"],
  [
    "SELECT * FROM t WHERE id = ANY($1::int[]) ORDER BY id DESC LIMIT 10 OFFSET 20",
    "read",
  ],
  ["SELECT .5, 1e-3, 1_000, 0x1F, 1.", "read"],
  [
    "SELECT pg_last_wal_replay_lsn(), pg_is_in_recovery(), pg_backend_pid()",
    "read",
  ],
  ["SELECT pg_sleep(0)", "read"],
  ["SELECT lo_get(42)", "read"],
  ["SELECT my_fn(1), s.other_fn(2)", "read"],
  // EXPLAIN
  ["EXPLAIN SELECT * FROM t", "read"],
  ["EXPLAIN (FORMAT JSON) SELECT * FROM t", "read"],
  ["EXPLAIN VERBOSE SELECT 1", "read"],
  ["EXPLAIN ANALYZE SELECT * FROM t", "read"],
  ["EXPLAIN (ANALYZE, BUFFERS) SELECT 1", "read"],
  ["EXPLAIN (ANALYZE false) DELETE FROM t", "read"],
  ["EXPLAIN (ANALYZE 'off', COSTS) UPDATE t SET x = 1", "read"],
  ["EXPLAIN INSERT INTO t VALUES (1)", "read"],
  ["EXPLAIN DELETE FROM t", "read"],
  ["EXPLAIN ANALYZE DELETE FROM t", "write"],
  ["EXPLAIN ANALYSE VERBOSE DELETE FROM t", "write"],
  ["EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET x = 1", "write"],
  ["EXPLAIN (ANALYZE) INSERT INTO t VALUES (1)", "write"],
  ["EXPLAIN (ANALYZE true, TIMING off) SELECT nextval('s')", "write"],
  ["EXPLAIN EXECUTE p", "write"],
  ["EXPLAIN CREATE TABLE x AS SELECT 1", "write"],
  ["EXPLAIN", "write"],
  // COPY
  ["COPY t TO STDOUT", "read"],
  ["COPY public.t (a, b) TO STDOUT WITH (FORMAT csv, HEADER)", "read"],
  ["COPY (SELECT * FROM t WHERE x > 1) TO STDOUT", "read"],
  ["COPY t FROM stdin", "write"],
  ["COPY t (a) FROM STDIN WITH (FORMAT csv)", "write"],
  ["COPY t TO '/tmp/t.csv'", "write"],
  ["COPY t TO PROGRAM 'gzip > /tmp/t.gz'", "write"],
  ["COPY (DELETE FROM t RETURNING *) TO STDOUT", "write"],
  // comments, strings, identifiers and dollar quotes hiding keywords
  ["/* DELETE */ SELECT 1", "read"],
  ["SELECT 1 -- ; DROP TABLE t", "read"],
  ["SELECT 1 -- ; DROP TABLE t\r", "read"],
  ["SELECT /* for update */ * FROM t", "read"],
  ["SELECT /* nested /* DELETE */ still comment; */ 1", "read"],
  ["SELECT 'DELETE FROM t; FOR UPDATE'", "read"],
  ['SELECT "update" FROM "delete"', "read"],
  ['SELECT 1 AS "weird ""insert"" ; name"', "read"],
  ["SELECT E'it\\'s; DROP'", "read"],
  ["SELECT e'a\\\\'", "read"],
  ["SELECT 'it''s; DROP TABLE x'", "read"],
  ["SELECT $q$ ; DELETE $q$", "read"],
  ["SELECT $$ INSERT INTO t VALUES (1); $$", "read"],
  ["SELECT $a$ $b$ ; $b$ $a$", "read"],
  ["SELECT $1::text, $2", "read"],
  ["SELECT U&'d\\0061t\\+000061'", "read"],
  ['SELECT U&"d\\0061ta" FROM t', "read"],
  ["SELECT X'1F', B'101', N'nat'", "read"],
  ["SELECT * FROM t /* x */ FOR /* y */ UPDATE", "write"],
  ["SELECT * FROM t WHERE v = 'a' FOR -- c\n SHARE", "write"],
  // locking clauses
  ["SELECT * FROM t FOR UPDATE", "write"],
  ["select * from t for update", "write"],
  ["SELECT * FROM t FOR NO KEY UPDATE", "write"],
  ["SELECT * FROM t FOR SHARE", "write"],
  ["SELECT * FROM t FOR KEY SHARE", "write"],
  ["SELECT * FROM t FOR UPDATE OF t NOWAIT", "write"],
  ["SELECT * FROM t FOR SHARE SKIP LOCKED", "write"],
  ["SELECT * FROM (SELECT * FROM t FOR UPDATE) x", "write"],
  ["SELECT 1 UNION SELECT 2 FOR UPDATE", "write"],
  ["WITH x AS (SELECT * FROM t FOR KEY SHARE) SELECT * FROM x", "write"],
  ["SELECT * FROM t LIMIT 1for share", "write"],
  // SELECT INTO and data-modifying CTEs
  ["SELECT * INTO newtable FROM t", "write"],
  ["SELECT 1 INTO TEMP x", "write"],
  ["WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "write"],
  [
    "WITH u AS (UPDATE t SET v = 1 RETURNING id) SELECT count(*) FROM u",
    "write",
  ],
  [
    "WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i",
    "write",
  ],
  ["WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "write"],
  ["SELECT update FROM t", "write"], // an unquoted column named like a keyword: conservative
  // DML and DDL
  ["INSERT INTO t (id) VALUES (1)", "write"],
  ["insert into t select * from u", "write"],
  ["UPDATE t SET v = 1 WHERE id = 2", "write"],
  ["DELETE FROM t WHERE id = 2", "write"],
  [
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
    "write",
  ],
  ["CREATE TABLE x (id int)", "write"],
  ["ALTER TABLE t ADD COLUMN w int", "write"],
  ["DROP TABLE t", "write"],
  ["TRUNCATE t", "write"],
  ["GRANT SELECT ON t TO PUBLIC", "write"],
  ["REVOKE SELECT ON t FROM PUBLIC", "write"],
  ["COMMENT ON TABLE t IS 'x'", "write"],
  ["SECURITY LABEL ON TABLE t IS 'x'", "write"],
  ["LOCK TABLE t IN SHARE MODE", "write"],
  ["CALL proc()", "write"],
  ["DO $$ BEGIN PERFORM 1; END $$", "write"],
  // session state, transactions, maintenance
  ["SET search_path = public", "write"],
  ["SET LOCAL statement_timeout = 1000", "write"],
  ["RESET ALL", "write"],
  ["BEGIN", "write"],
  ["START TRANSACTION READ ONLY", "write"],
  ["COMMIT", "write"],
  ["ROLLBACK", "write"],
  ["SAVEPOINT a", "write"],
  ["PREPARE p AS SELECT 1", "write"],
  ["EXECUTE p", "write"],
  ["DEALLOCATE p", "write"],
  ["DECLARE c CURSOR FOR SELECT 1", "write"],
  ["LISTEN x", "write"],
  ["NOTIFY x", "write"],
  ["VACUUM", "write"],
  ["ANALYZE t", "write"],
  ["REFRESH MATERIALIZED VIEW mv", "write"],
  ["DISCARD ALL", "write"],
  ["CHECKPOINT", "write"],
  // functions that write or act on node-local state
  ["SELECT nextval('s')", "write"],
  ["SELECT pg_catalog.nextval('s')", "write"],
  ['SELECT "pg_catalog"."nextval"(\'s\')', "write"],
  ["SELECT nextval /* x */ ('s')", "write"],
  ["SELECT setval('s', 10)", "write"],
  ["SELECT pg_advisory_lock(1)", "write"],
  ["SELECT pg_try_advisory_xact_lock(1)", "write"],
  ["SELECT pg_advisory_unlock_all()", "write"],
  ["SELECT set_config('a', 'b', false)", "write"],
  ["SELECT setseed(0.5)", "write"],
  ["SELECT txid_current()", "write"],
  ["SELECT pg_current_xact_id()", "write"],
  ["SELECT pg_notify('ch', 'x')", "write"],
  ["SELECT lo_unlink(42)", "write"],
  ["SELECT lo_from_bytea(0, 'x')", "write"],
  ["SELECT pg_terminate_backend(123)", "write"],
  ["SELECT pg_stat_reset()", "write"],
  ["SELECT pg_wal_replay_pause()", "write"],
  ["SELECT dblink_exec('conn', 'DELETE FROM t')", "write"],
  ["SELECT * FROM t WHERE id = (SELECT nextval('s'))", "write"],
  // built-ins a hot standby refuses (recovery_refusing_functions.ts)
  ["SELECT brin_summarize_range('i', 0)", "write"],
  ["SELECT brin_desummarize_range('i', 0)", "write"],
  ["SELECT brin_summarize_new_values('i'::regclass)", "write"],
  ["SELECT gin_clean_pending_list('i')", "write"],
  ["SELECT pg_catalog.gin_clean_pending_list('i')", "write"],
  ["SELECT pg_switch_wal()", "write"],
  ["SELECT pg_create_restore_point('x')", "write"],
  ["SELECT pg_current_wal_lsn()", "write"],
  ["SELECT pg_current_wal_insert_lsn(), pg_current_wal_flush_lsn()", "write"],
  ["SELECT * FROM pg_walfile_name_offset(pg_last_wal_replay_lsn())", "write"],
  ["SELECT pg_current_xlog_location()", "write"],
  ["SELECT heap_force_kill('t'::regclass, ARRAY['(0,1)']::tid[])", "write"],
  ["SELECT bt_index_parent_check('i')", "write"],
  ["SELECT pg_truncate_visibility_map('t')", "write"],
  ["SELECT pg_import_system_collations('s')", "write"],
  ["SELECT pg_logical_emit_message(false, 'p', 'x')", "write"],
  ["SELECT pg_replication_origin_create('o')", "write"],
  ["SELECT lo_create(0)", "write"],
  ["SELECT lo_get(42), pg_last_wal_receive_lsn(), bt_index_check('i')", "read"],
  ["VALUES (nextval('s'))", "write"],
  // several statements, nothing, or unparseable
  ["SELECT 1; DELETE FROM t", "write"],
  ["SELECT 1; SELECT 2", "write"],
  ["SELECT (1; SELECT 2)", "write"],
  ["", "write"],
  ["  -- only a comment\n", "write"],
  [" ; ", "write"],
  ["SELECT 'unterminated", "write"],
  ["SELECT E'unterminated\\'", "write"],
  ["SELECT 1 /* unterminated /* nested */", "write"],
  ["SELECT $x$ unterminated", "write"],
  ['SELECT "unterminated', "write"],
  ['SELECT "" FROM t', "write"],
  ["SELECT {1}", "write"],
  ["SELECT U&\"d!0061ta\" UESCAPE '!' FROM t", "write"],
  ['"select" 1', "write"],
];

describe("classifySql: hand-marked table", () => {
  it("has at least 90 cases", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(90);
  });

  it.each(CASES)("%s → %s", (sql, expected) => {
    const verdict = classifySql(sql);
    expect(
      verdict.readOnly ? "read" : "write",
      verdict.readOnly ? "" : verdict.reason,
    ).toBe(expected);
  });
});

describe("classifySql: shared fixture, routed like the router does", () => {
  // Same rule as RawSqlGate.provablyReadOnly, with bump() and set() VOLATILE user functions.
  const catalog = new VolatileFunctionCatalog();
  const ready = catalog.load({
    query: async () => ({
      rows: [
        { schema_name: "public", function_name: "bump" },
        { schema_name: "public", function_name: "set" },
      ],
    }),
  });

  it.each(STATEMENTS)("$sql → write=$write", async ({ sql, write }) => {
    await ready;
    const c = classifySql(sql);
    expect(c.readOnly && !catalog.hasVolatile(c.functions)).toBe(!write);
  });
});

describe("classifySql: kinds, reasons and functions", () => {
  it.each([
    ["INSERT INTO t VALUES (1)", "write", "INSERT"],
    ["SET search_path = x", "write", "SET"],
    [
      "SELECT * FROM t FOR NO KEY UPDATE",
      "locking",
      "SELECT ... FOR NO KEY UPDATE",
    ],
    ["SELECT 1; SELECT 2", "write", "multiple statements"],
    ["SELECT pg_catalog.nextval('s')", "primary_state", "nextval()"],
    ["SELECT * INTO x FROM t", "write", "SELECT ... INTO"],
    [
      "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
      "write",
      "data-modifying DELETE",
    ],
    ["EXPLAIN ANALYZE DELETE FROM t", "write", "EXPLAIN ANALYZE DELETE"],
    [
      "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
      "write",
      "EXPLAIN ANALYZE SELECT ... FOR UPDATE",
    ],
    ["COPY t FROM STDIN", "write", "COPY ... FROM"],
    ["SELECT 'x", "write", "unparseable: unterminated string"],
    ["SELECT /* x", "write", "unparseable: unterminated comment"],
    ["SELECT $a$ x", "write", "unparseable: unterminated dollar quote"],
    ['SELECT "x', "write", "unparseable: unterminated quoted identifier"],
    ["", "write", "empty statement"],
  ])("%s → %s: %s", (sql, kind, reason) => {
    expect(classifySql(sql)).toEqual({ readOnly: false, kind, reason });
  });

  it("lists user functions bare and schema-qualified, lower-cased", () => {
    const c = classifySql(
      'SELECT my_fn(1), S.Other_Fn(2), "Quoted"(3) FROM t WHERE id IN (1) AND EXISTS (SELECT 1)',
    );
    expect(c.readOnly).toBe(true);
    if (!c.readOnly) return;
    expect([...c.functions].sort()).toEqual([
      "my_fn",
      "other_fn",
      "quoted",
      "s.other_fn",
    ]);
  });

  it("lists every word before ( that may call a function, keywords that are valid function names included", () => {
    // Unreserved and type/function-name keywords: a VOLATILE user function may have any of these names.
    const c = classifySql(
      "SELECT set(1), filter(2), range(3), rows(4), like(5), join(6), over(7), cube(8), materialized(9), by(10)",
    );
    expect(c.readOnly && [...c.functions].sort()).toEqual(
      [
        "by",
        "cube",
        "filter",
        "join",
        "like",
        "materialized",
        "over",
        "range",
        "rows",
        "set",
      ].sort(),
    );
    expect(classifySql("SELECT x FROM t WHERE x IN (filter(1))")).toEqual({
      readOnly: true,
      functions: ["filter"],
    });
    // Column-name keywords can only be called schema-qualified; that form is listed.
    expect(classifySql("SELECT public.time(1), s.coalesce(2)")).toEqual({
      readOnly: true,
      functions: ["public.time", "time", "s.coalesce", "coalesce"],
    });
  });

  it("does not list the syntax that only looks like a call", () => {
    const c = classifySql(
      "SELECT count(*) FILTER (WHERE x > 0) OVER (PARTITION BY (g) ORDER BY (id)), " +
        "x::character varying(3), y::bit varying(2), CAST(z AS numeric(5)), time(3) 'now', " +
        "coalesce(a, b), EXISTS (SELECT 1), ROW(1), ARRAY(SELECT 1) " +
        "FROM t GROUP BY GROUPING SETS ((a), (b)), (g) ORDER BY (x)",
    );
    expect(c).toEqual({ readOnly: true, functions: ["count"] });
    expect(
      classifySql("WITH c AS NOT MATERIALIZED (SELECT 1) SELECT * FROM c"),
    ).toEqual({ readOnly: true, functions: [] });
  });

  it("lists current_schema, also without parentheses, and current_schemas", () => {
    for (const sql of [
      "SELECT current_schema",
      "SELECT current_schema()",
      "SELECT pg_catalog.current_schema()",
      "SELECT * FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA",
    ])
      expect(classifySql(sql), sql).toMatchObject({
        readOnly: true,
        functions: expect.arrayContaining(["current_schema"]),
      });
    expect(classifySql("SELECT current_schemas(false)")).toEqual({
      readOnly: true,
      functions: ["current_schemas"],
    });
    expect(classifySql("SELECT s.current_schema FROM s")).toEqual({
      readOnly: true,
      functions: [],
    });
  });

  it("does not list syntax, column aliases or CTE column lists as calls", () => {
    const c = classifySql(
      "WITH c(a) AS (SELECT 1) SELECT CAST(a AS numeric(5)) FROM c, generate_series(1, 2) AS g(n) WHERE a IN (1)",
    );
    expect(c).toEqual({ readOnly: true, functions: ["generate_series"] });
  });

  it("reports the explained statement's functions only when EXPLAIN ANALYZE runs it", () => {
    expect(classifySql("EXPLAIN SELECT f(1)")).toEqual({
      readOnly: true,
      functions: [],
    });
    expect(classifySql("EXPLAIN ANALYZE SELECT f(1)")).toEqual({
      readOnly: true,
      functions: ["f"],
    });
    expect(classifySql("COPY (SELECT f(1)) TO STDOUT")).toEqual({
      readOnly: true,
      functions: ["f"],
    });
  });

  it("returns frozen verdicts", () => {
    const c = classifySql("SELECT f(1)");
    expect(Object.isFrozen(c)).toBe(true);
    if (c.readOnly) expect(Object.isFrozen(c.functions)).toBe(true);
  });
});

describe("tokenizeSql", () => {
  it("lexes strings, identifiers, casts, parameters and dollar quotes", () => {
    expect(
      tokenizeSql(
        `SELECT "Weird ""name""", E'a\\'b', $1::Text, $t$x$t$ /* a /* b */ c */ ;`,
      ),
    ).toEqual([
      { kind: "word", text: "select" },
      { kind: "quoted_ident", text: 'Weird "name"' },
      { kind: "punct", text: "," },
      { kind: "string", text: "E'a\\'b'" },
      { kind: "punct", text: "," },
      { kind: "param", text: "$1" },
      { kind: "op", text: "::" },
      { kind: "word", text: "text" },
      { kind: "punct", text: "," },
      { kind: "string", text: "$t$x$t$" },
      { kind: "punct", text: ";" },
    ]);
  });

  it("ends an operator where a comment starts and folds only ASCII letters", () => {
    expect(tokenizeSql("a<=--x\nb").map((t) => t.text)).toEqual([
      "a",
      "<=",
      "b",
    ]);
    // U+212A KELVIN SIGN lower-cases to "k" in JavaScript but not in PostgreSQL.
    expect(tokenizeSql("LOC\u212A")).toEqual([
      { kind: "word", text: "loc\u212A" },
    ]);
  });

  it("decodes U& identifiers and keeps $ inside words", () => {
    expect(tokenizeSql('U&"\\0061b" a$b$')).toEqual([
      { kind: "quoted_ident", text: "ab" },
      { kind: "word", text: "a$b$" },
    ]);
  });

  it("throws SqlTokenizeError with a reason and offset, never the SQL text", () => {
    let error: unknown;
    try {
      tokenizeSql("SELECT 'secret");
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SqlTokenizeError);
    expect(error).toMatchObject({
      code: "sql_unparseable",
      reason: "unterminated string",
      offset: 7,
    });
    expect((error as Error).message).not.toContain("secret");
  });
});

describe("classifySqlCached", () => {
  it("returns the same verdict object for the same text", () => {
    const a = classifySqlCached("SELECT 42 /* cached */");
    expect(classifySqlCached("SELECT 42 /* cached */")).toBe(a);
    expect(classifySqlCached("SELECT 43 /* cached */")).not.toBe(a);
  });

  it("never holds more than its bound and evicts the oldest first", () => {
    const first = classifySqlCached("SELECT 'first'");
    for (let i = 0; i < SQL_CLASSIFIER_CACHE_MAX_ENTRIES * 2; i++)
      classifySqlCached(`SELECT ${i}`);
    expect(SQL_CLASSIFIER_CACHE_MAX_ENTRIES).toBe(1000);
    expect(classifierCacheSize()).toBe(SQL_CLASSIFIER_CACHE_MAX_ENTRIES);
    expect(classifySqlCached("SELECT 'first'")).not.toBe(first);
    expect(classifySqlCached("SELECT 'first'")).toEqual(first);
  });

  it("micro-benchmark (prints only): a typical 200-character SELECT", () => {
    const sql =
      "SELECT a.id, a.name, sum(e.amount) AS total FROM accounts a JOIN entries e ON e.account_id = a.id " +
      "WHERE a.org_id = $1 AND e.created_at >= $2 GROUP BY a.id, a.name ORDER BY total DESC LIMIT 50";
    expect(classifySql(sql)).toEqual({ readOnly: true, functions: ["sum"] });
    const n = 50_000;
    for (let i = 0; i < n; i++) classifySql(sql); // warm the JIT first
    let started = performance.now();
    for (let i = 0; i < n; i++) classifySql(sql);
    const uncachedUs = ((performance.now() - started) * 1000) / n;
    started = performance.now();
    for (let i = 0; i < n; i++) classifySqlCached(sql);
    const cachedUs = ((performance.now() - started) * 1000) / n;
    // Timing is machine-dependent, so it is reported, not asserted.
    report(
      `classifySql ${sql.length} chars: ${uncachedUs.toFixed(2)} µs; cached: ${cachedUs.toFixed(3)} µs`,
    );
  });
});

/** A querier that records every query and answers with fixed rows. */
function fakeQuerier(
  rows: Array<Record<string, unknown>>,
): CatalogQuerier & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    query: async (text) => {
      queries.push(text);
      return { rows };
    },
  };
}

describe("VolatileFunctionCatalog", () => {
  const rows = [
    { schema_name: "public", function_name: "bump_counter" },
    { schema_name: "Billing", function_name: "Charge" },
    { schema_name: "pg_catalog", function_name: "random" },
    { schema_name: "information_schema", function_name: "_pg_volatile" },
    { schema_name: null, function_name: "broken_row" },
  ];

  it("sends exactly one query per load, for VOLATILE functions outside built-in schemas", async () => {
    const db = fakeQuerier(rows);
    const catalog = new VolatileFunctionCatalog();
    await catalog.load(db);
    expect(db.queries).toHaveLength(1);
    expect(db.queries[0]).toMatch(/provolatile = 'v'/);
    expect(db.queries[0]).toMatch(
      /NOT IN \('pg_catalog', 'information_schema'\)/,
    );
    await catalog.load(db);
    expect(db.queries).toHaveLength(2);
  });

  it("matches bare and qualified names, lower-case, and ignores built-in rows", async () => {
    const catalog = new VolatileFunctionCatalog();
    expect(catalog.loaded).toBe(false);
    expect(catalog.hasVolatile(["bump_counter"])).toBe(false);
    await catalog.load(fakeQuerier(rows));
    expect(catalog.loaded).toBe(true);
    expect(catalog.hasVolatile(["public.bump_counter"])).toBe(true);
    expect(catalog.hasVolatile(["bump_counter"])).toBe(true);
    expect(catalog.hasVolatile(["count", "billing.charge"])).toBe(true);
    expect(catalog.hasVolatile(["stable_fn", "public.stable_fn"])).toBe(false);
    expect(
      catalog.hasVolatile([
        "random",
        "pg_catalog.random",
        "_pg_volatile",
        "broken_row",
      ]),
    ).toBe(false);
  });

  it("routes a classified read calling a volatile user function to the primary", async () => {
    const catalog = new VolatileFunctionCatalog();
    await catalog.load(fakeQuerier(rows));
    const c = classifySql("SELECT public.bump_counter(), count(*) FROM t");
    expect(c.readOnly && catalog.hasVolatile(c.functions)).toBe(true);
  });

  it("keeps the previous set when a reload fails", async () => {
    const catalog = new VolatileFunctionCatalog();
    await catalog.load(fakeQuerier(rows));
    await expect(
      catalog.load({ query: async () => Promise.reject(new Error("down")) }),
    ).rejects.toThrow("down");
    expect(catalog.hasVolatile(["bump_counter"])).toBe(true);
  });

  it("goes stale refreshIntervalMs after the last load", async () => {
    const clock = new ManualClock();
    const catalog = new VolatileFunctionCatalog({
      clock,
      refreshIntervalMs: 1000,
    });
    expect(catalog.isStale()).toBe(true);
    await catalog.load(fakeQuerier(rows));
    expect(catalog.isStale()).toBe(false);
    clock.advance(999);
    expect(catalog.isStale()).toBe(false);
    clock.advance(1);
    expect(catalog.isStale()).toBe(true);
    await catalog.load(fakeQuerier(rows));
    expect(catalog.isStale()).toBe(false);
  });

  it("rejects a non-positive refresh interval", () => {
    expect(() => new VolatileFunctionCatalog({ refreshIntervalMs: 0 })).toThrow(
      RangeError,
    );
  });
});

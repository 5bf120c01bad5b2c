/**
 * Issue 10 §2 against the shared primary + streaming replicas: every built-in
 * in RECOVERY_REFUSING_FUNCTIONS is refused by a real standby exactly as
 * listed and sent to the primary by the router; a VOLATILE user function
 * named like a keyword (`set`, `filter`) runs on the primary; current_schema()
 * with pg_temp first on the search path and views hiding a write or a
 * recovery-refusing built-in reach the caller as answers, never as errors;
 * READ_ONLY_FUNCTIONS gives listed functions back to the replicas.
 *
 * Everything lives in a schema of its own, dropped at the end.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import { silentLogger } from "../../backend/database/router/support/logger";
import { classifyPgError } from "../../backend/database/router/base/pg_errors";
import { RECOVERY_REFUSING_FUNCTIONS } from "../../backend/database/router/sql/recovery_refusing_functions";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { NEVER_CALLED_KEYWORDS } from "../../backend/database/router/sql/sql_keywords";
import { eventually, sql } from "./helpers/clusters";
import { report } from "../support/verbose";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const S = `refusals_${randomBytes(4).toString("hex")}`;
const replicaUrl = replicaUrls[0]!;

/** `url` whose sessions start with `search_path` set to `path`. */
function withSearchPath(url: string, path: string): string {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}options=${encodeURIComponent(`-c search_path=${path}`)}`;
}

interface Started {
  router: ReplicaRouter;
  warnings: Array<{ message: string; fields: unknown }>;
  misses(): number;
}

async function startRouter(
  env: Record<string, string> = {},
  urls = { primary: primaryUrl, replicas: replicaUrls },
): Promise<Started> {
  const warnings: Started["warnings"] = [];
  const config = loadConfig({
    DATABASE_URL: urls.primary,
    READ_REPLICA_URLS: urls.replicas.join(","),
    // Hedging would add a second replica attempt; irrelevant here and noisy in counts.
    REPLICA_HEDGE_MAX_EXTRA_LOAD: "0",
    ...env,
  });
  const router = new ReplicaRouter(config.router, {
    logger: {
      ...silentLogger,
      warn: (message, fields) => void warnings.push({ message, fields }),
    },
  });
  await router.start();
  return {
    router,
    warnings,
    misses: () =>
      warnings.filter((w) => w.message.includes("classifier miss")).length,
  };
}

/** Runs `text` through the router as a raw read; returns the rows and the node. */
async function routedRead(
  router: ReplicaRouter,
  text: string,
): Promise<{ rows: any[]; servedBy: string | null }> {
  const db = router.getReadConnection();
  const rows = await db.rawQueryAll(text);
  return { rows, servedBy: db.servedBy };
}

/** The error `text` raises on `url`, or null when it succeeds. */
async function errorOf(
  url: string,
  text: string,
): Promise<{ code?: string; message: string } | null> {
  try {
    await sql(url, text);
    return null;
  } catch (err) {
    return err as { code?: string; message: string };
  }
}

/** Waits until every replica sees the relation or function `name` (schema-qualified). */
async function replicated(name: string): Promise<void> {
  for (const url of replicaUrls) {
    await eventually(async () => {
      const rows = await sql(
        url,
        `SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname || '.' || p.proname = $1
         UNION ALL
         SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname || '.' || c.relname = $1`,
        [name],
      );
      if (rows.length === 0) throw new Error(`${name} not replicated yet`);
    }, 10_000);
  }
}

/** Schema of `extension` once it exists: created in S (dropped with it) unless already installed. */
async function extensionSchema(extension: string): Promise<string | null> {
  const available = await sql(
    primaryUrl,
    "SELECT 1 FROM pg_available_extensions WHERE name = $1",
    [extension],
  );
  if (available.length === 0) return null;
  await sql(
    primaryUrl,
    `CREATE EXTENSION IF NOT EXISTS ${extension} SCHEMA ${S}`,
  );
  const rows = await sql(
    primaryUrl,
    `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = $1`,
    [extension],
  );
  return rows[0].nspname as string;
}

/**
 * One call per listed function, in run order. `onPrimary: false` marks calls
 * that would change a pooled session's state on the primary (replication
 * origin sessions): for those only the router's decision is checked.
 */
function sampleCalls(ext: Record<string, string | null>): Array<{
  fn: string;
  sql: string;
  onPrimary?: false;
}> {
  const surgery = ext.pg_surgery;
  const amcheck = ext.amcheck;
  const visibility = ext.pg_visibility;
  return [
    { fn: "pg_switch_wal", sql: "SELECT pg_switch_wal()" },
    {
      fn: "pg_create_restore_point",
      sql: `SELECT pg_create_restore_point('${S}')`,
    },
    { fn: "pg_current_wal_lsn", sql: "SELECT pg_current_wal_lsn()" },
    {
      fn: "pg_current_wal_insert_lsn",
      sql: "SELECT pg_current_wal_insert_lsn()",
    },
    {
      fn: "pg_current_wal_flush_lsn",
      sql: "SELECT pg_current_wal_flush_lsn()",
    },
    { fn: "pg_walfile_name", sql: "SELECT pg_walfile_name('0/1000000')" },
    {
      fn: "pg_walfile_name_offset",
      sql: "SELECT * FROM pg_walfile_name_offset('0/1000000')",
    },
    { fn: "pg_log_standby_snapshot", sql: "SELECT pg_log_standby_snapshot()" },
    { fn: "pg_switch_xlog", sql: "SELECT pg_switch_xlog()" },
    {
      fn: "pg_current_xlog_location",
      sql: "SELECT pg_current_xlog_location()",
    },
    {
      fn: "pg_current_xlog_insert_location",
      sql: "SELECT pg_current_xlog_insert_location()",
    },
    {
      fn: "pg_current_xlog_flush_location",
      sql: "SELECT pg_current_xlog_flush_location()",
    },
    { fn: "pg_xlogfile_name", sql: "SELECT pg_xlogfile_name('0/1000000')" },
    {
      fn: "pg_xlogfile_name_offset",
      sql: "SELECT * FROM pg_xlogfile_name_offset('0/1000000')",
    },
    {
      fn: "brin_summarize_range",
      sql: `SELECT brin_summarize_range('${S}.bt_brin', 0)`,
    },
    {
      fn: "brin_summarize_new_values",
      sql: `SELECT brin_summarize_new_values('${S}.bt_brin')`,
    },
    {
      fn: "brin_desummarize_range",
      sql: `SELECT brin_desummarize_range('${S}.bt_brin', 0)`,
    },
    {
      fn: "gin_clean_pending_list",
      sql: `SELECT gin_clean_pending_list('${S}.bt_gin')`,
    },
    {
      fn: "heap_force_kill",
      sql: `SELECT ${surgery}.heap_force_kill('${S}.victim'::regclass, ARRAY['(0,1)']::tid[])`,
    },
    {
      fn: "heap_force_freeze",
      sql: `SELECT ${surgery}.heap_force_freeze('${S}.victim'::regclass, ARRAY['(0,2)']::tid[])`,
    },
    {
      fn: "pg_import_system_collations",
      sql: `SELECT pg_import_system_collations('${S}')`,
    },
    {
      fn: "pg_truncate_visibility_map",
      sql: `SELECT ${visibility}.pg_truncate_visibility_map('${S}.victim')`,
    },
    {
      fn: "bt_index_parent_check",
      sql: `SELECT ${amcheck}.bt_index_parent_check('${S}.bt_pkey')`,
    },
    { fn: "txid_current", sql: "SELECT txid_current()" },
    { fn: "pg_current_xact_id", sql: "SELECT pg_current_xact_id()" },
    { fn: "pg_notify", sql: `SELECT pg_notify('${S}', 'x')` },
    { fn: "nextval", sql: `SELECT nextval('${S}.sq')` },
    { fn: "setval", sql: `SELECT setval('${S}.sq', 5)` },
    {
      fn: "pg_replication_origin_create",
      sql: `SELECT pg_replication_origin_create('${S}')`,
    },
    {
      fn: "pg_replication_origin_advance",
      sql: `SELECT pg_replication_origin_advance('${S}', '0/1')`,
    },
    {
      fn: "pg_replication_origin_drop",
      sql: `SELECT pg_replication_origin_drop('${S}')`,
    },
    {
      fn: "pg_replication_origin_session_setup",
      sql: `SELECT pg_replication_origin_session_setup('${S}')`,
      onPrimary: false,
    },
    {
      fn: "pg_replication_origin_session_reset",
      sql: "SELECT pg_replication_origin_session_reset()",
      onPrimary: false,
    },
    {
      fn: "pg_replication_origin_xact_setup",
      sql: "SELECT pg_replication_origin_xact_setup('0/1', now())",
      onPrimary: false,
    },
    {
      fn: "pg_replication_origin_xact_reset",
      sql: "SELECT pg_replication_origin_xact_reset()",
      onPrimary: false,
    },
    {
      fn: "pg_logical_emit_message",
      sql: `SELECT pg_logical_emit_message(true, '${S}', 'x')`,
    },
    { fn: "lo_creat", sql: "SELECT lo_unlink(lo_creat(-1))" },
    { fn: "lo_create", sql: "SELECT lo_unlink(lo_create(0))" },
    { fn: "lo_from_bytea", sql: "SELECT lo_unlink(lo_from_bytea(0, 'x'))" },
    { fn: "lo_import", sql: "SELECT lo_unlink(lo_import('/dev/null'))" },
    // No such object: the primary answers 42704; only the decision is checked there.
    {
      fn: "lo_unlink",
      sql: "SELECT lo_unlink(4294967295::oid)",
      onPrimary: false,
    },
  ];
}

beforeAll(async () => {
  await sql(
    primaryUrl,
    `CREATE SCHEMA ${S};
     CREATE TABLE ${S}.bt (id int PRIMARY KEY, v int[]);
     INSERT INTO ${S}.bt SELECT g, ARRAY[g] FROM generate_series(1, 500) g;
     CREATE INDEX bt_brin ON ${S}.bt USING brin (id);
     CREATE INDEX bt_gin ON ${S}.bt USING gin (v) WITH (fastupdate = on);
     CREATE TABLE ${S}.victim (id int);
     INSERT INTO ${S}.victim SELECT generate_series(1, 5);
     CREATE SEQUENCE ${S}.sq;
     CREATE UNLOGGED TABLE ${S}.ul (id int);
     INSERT INTO ${S}.ul VALUES (1), (2);
     CREATE TABLE ${S}.counter (n int NOT NULL);
     INSERT INTO ${S}.counter VALUES (0);
     CREATE TABLE ${S}.audit (id serial PRIMARY KEY);
     -- VOLATILE functions that write, named like keywords the classifier used to skip.
     CREATE FUNCTION ${S}."set"(int) RETURNS int LANGUAGE sql VOLATILE
       AS $$ UPDATE ${S}.counter SET n = n + $1 RETURNING n $$;
     CREATE FUNCTION ${S}."filter"(int) RETURNS int LANGUAGE sql VOLATILE
       AS $$ UPDATE ${S}.counter SET n = n + $1 RETURNING n $$;
     -- A view whose definition calls a writing function: invisible to any classifier.
     CREATE FUNCTION ${S}.log_and_answer() RETURNS int LANGUAGE sql VOLATILE
       AS $$ INSERT INTO ${S}.audit DEFAULT VALUES RETURNING 42 $$;
     CREATE VIEW ${S}.v_write AS SELECT ${S}.log_and_answer() AS answer;
     -- A view calling a built-in a standby refuses with 55000, not 25006.
     CREATE VIEW ${S}.v_lsn AS SELECT pg_current_wal_lsn() IS NOT NULL AS has_lsn;
     -- VOLATILE but only reads: what READ_ONLY_FUNCTIONS is for.
     CREATE FUNCTION ${S}.report_total() RETURNS bigint LANGUAGE sql VOLATILE
       AS $$ SELECT sum(id) FROM ${S}.bt $$;`,
  );
  await replicated(`${S}.report_total`);
}, 60_000);

afterAll(async () => {
  await sql(
    primaryUrl,
    `SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = '${S}'`,
  );
  await sql(primaryUrl, `DROP SCHEMA IF EXISTS ${S} CASCADE`);
});

describe("built-ins a hot standby refuses (RECOVERY_REFUSING_FUNCTIONS)", () => {
  it("a real standby refuses each one as listed, the error classifies as read_only, and the router runs it on the primary", async () => {
    const ext = {
      pg_surgery: await extensionSchema("pg_surgery"),
      amcheck: await extensionSchema("amcheck"),
      pg_visibility: await extensionSchema("pg_visibility"),
    };
    const onServer = new Set(
      (
        await sql(
          primaryUrl,
          "SELECT DISTINCT proname FROM pg_proc WHERE proname = ANY($1)",
          [[...RECOVERY_REFUSING_FUNCTIONS.keys()]],
        )
      ).map((r) => r.proname as string),
    );
    for (const [schema, fn] of [
      [ext.pg_surgery, "heap_force_kill"],
      [ext.amcheck, "bt_index_parent_check"],
      [ext.pg_visibility, "pg_truncate_visibility_map"],
    ] as const)
      if (schema !== null) await replicated(`${schema}.${fn}`);
    const calls = sampleCalls(ext);
    // The list cannot grow untested: every listed function on this server has a call here.
    for (const fn of onServer)
      expect(
        calls.some((c) => c.fn === fn),
        `no sample call for ${fn}`,
      ).toBe(true);
    const { router, misses } = await startRouter();
    const checked: string[] = [];
    try {
      for (const call of calls) {
        if (!onServer.has(call.fn)) continue;
        const listed = RECOVERY_REFUSING_FUNCTIONS.get(call.fn)!;
        const err = await errorOf(replicaUrl, call.sql);
        expect(err, `${call.fn} ran on a standby`).not.toBeNull();
        expect(err!.code, `${call.fn}: ${err!.message}`).toBe(listed.sqlstate);
        expect(err!.message.startsWith(listed.message), err!.message).toBe(
          true,
        );
        expect(classifyPgError(err), call.fn).toBe("read_only");
        expect(router.rawSql.provablyReadOnly(call.sql), call.fn).toBe(false);
        if (call.onPrimary !== false) {
          const { servedBy } = await routedRead(router, call.sql);
          expect(servedBy, call.fn).toBe("primary");
        }
        checked.push(call.fn);
      }
      // None of them was tried on a replica first.
      expect(misses()).toBe(0);
    } finally {
      await router.close();
    }
    report(
      `standby refusals checked on the real standby: ${checked.length} of ${RECOVERY_REFUSING_FUNCTIONS.size} listed ` +
        `(not on this server: ${[...RECOVERY_REFUSING_FUNCTIONS.keys()].filter((f) => !onServer.has(f)).join(", ") || "none"})`,
    );
    expect(checked).toContain("brin_summarize_range");
    expect(checked).toContain("gin_clean_pending_list");
  }, 120_000);

  it("every keyword the classifier skips before ( is reserved or a column-name keyword on this server", async () => {
    const rows = await sql(
      primaryUrl,
      "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'C')",
    );
    const serverWords = new Set(rows.map((r) => r.word as string));
    expect(
      [...NEVER_CALLED_KEYWORDS].filter((w) => !serverWords.has(w)),
    ).toEqual([]);
  });
});

describe("user functions named like keywords", () => {
  it("set(...) and filter(...) that write run on the primary, never tried on a replica", async () => {
    const url = (u: string) => withSearchPath(u, `${S},public`);
    const { router, misses } = await startRouter(
      {},
      { primary: url(primaryUrl), replicas: replicaUrls.map(url) },
    );
    try {
      const before = Number(
        (await sql(primaryUrl, `SELECT n FROM ${S}.counter`))[0].n,
      );
      const a = await routedRead(router, "SELECT set(1) AS n");
      expect(a.servedBy).toBe("primary");
      const b = await routedRead(
        router,
        "SELECT n FROM (SELECT filter(2) AS n) AS x",
      );
      expect(b.servedBy).toBe("primary");
      const after = Number(
        (await sql(primaryUrl, `SELECT n FROM ${S}.counter`))[0].n,
      );
      expect(after - before).toBe(3);
      expect(misses()).toBe(0);
      // The aggregate FILTER clause is still syntax: that read stays on a replica.
      const c = await routedRead(
        router,
        "SELECT count(*) FILTER (WHERE id > 250) AS n FROM bt",
      );
      expect(c.rows).toEqual([{ n: "250" }]);
      expect(c.servedBy).toMatch(/^replica_/);
    } finally {
      await router.close();
    }
  });
});

describe("current_schema() with pg_temp first on the search path", () => {
  it("a standby cannot create the temporary schema: the first call is retried on the primary, later ones go there directly", async () => {
    const url = (u: string) => withSearchPath(u, "pg_temp,public");
    // The standby's own answer, to pin the behaviour down.
    const refusal = await errorOf(url(replicaUrl), "SELECT current_schema()");
    expect(refusal).toMatchObject({
      code: "25006",
      message: "cannot create temporary tables during recovery",
    });
    const { router, misses } = await startRouter(
      {},
      { primary: url(primaryUrl), replicas: replicaUrls.map(url) },
    );
    try {
      const first = await routedRead(router, "SELECT current_schema() AS s");
      expect(first.servedBy).toBe("primary");
      expect(first.rows[0].s).toMatch(/^pg_temp_\d+$/);
      expect(misses()).toBe(1);
      expect(router.rawSql.refusals.refusals).toBe(1);
      for (const text of [
        "SELECT current_schema() AS s",
        "SELECT current_schemas(false) AS s",
        "SELECT current_schema AS s",
      ]) {
        const r = await routedRead(router, text);
        expect(r.servedBy, text).toBe("primary");
      }
      expect(router.rawSql.refusals.refusals).toBe(1);
      // Nothing else moved: a plain read still goes to a replica.
      expect((await routedRead(router, "SELECT 1 AS one")).servedBy).toMatch(
        /^replica_/,
      );
    } finally {
      await router.close();
    }
  });

  it("with the default search path current_schema() stays on a replica", async () => {
    const { router, misses } = await startRouter();
    try {
      const r = await routedRead(router, "SELECT current_schema() AS s");
      expect(r.servedBy).toMatch(/^replica_/);
      expect(r.rows).toEqual([{ s: "public" }]);
      expect(misses()).toBe(0);
    } finally {
      await router.close();
    }
  });
});

describe("reads the classifier cannot see through", () => {
  it("a view calling a writing function, a view calling a recovery-refusing built-in and an unlogged table answer from the primary, no error reaches the caller", async () => {
    await replicated(`${S}.v_lsn`);
    const { router, misses, warnings } = await startRouter();
    try {
      const audits = async () =>
        Number(
          (await sql(primaryUrl, `SELECT count(*) AS n FROM ${S}.audit`))[0].n,
        );
      const before = await audits();
      const write = await routedRead(router, `SELECT answer FROM ${S}.v_write`);
      expect(write.rows).toEqual([{ answer: 42 }]);
      expect(write.servedBy).toBe("primary");
      expect(await audits()).toBe(before + 1);

      const lsn = await routedRead(router, `SELECT has_lsn FROM ${S}.v_lsn`);
      expect(lsn.rows).toEqual([{ has_lsn: true }]);
      expect(lsn.servedBy).toBe("primary");

      const unlogged = await routedRead(
        router,
        `SELECT count(*) AS n FROM ${S}.ul`,
      );
      expect(unlogged.rows).toEqual([{ n: "2" }]);
      expect(unlogged.servedBy).toBe("primary");

      expect(misses()).toBe(3);
      expect(router.rawSql.refusals.refusals).toBe(3);
      const logged = warnings.find((w) =>
        w.message.includes("classifier miss"),
      )!;
      expect(logged.fields).toMatchObject({
        shape: `select answer from ${S}.v_write`,
      });

      // Each text reached a replica once: the same reads now go straight to the primary.
      for (let i = 0; i < 3; i++) {
        const again = await routedRead(
          router,
          `SELECT answer FROM ${S}.v_write`,
        );
        expect(again.servedBy).toBe("primary");
      }
      expect(await audits()).toBe(before + 4);
      expect(router.rawSql.refusals.refusals).toBe(3);
      expect(misses()).toBe(3);
    } finally {
      await router.close();
    }
  });
});

describe("READ_ONLY_FUNCTIONS", () => {
  it("a listed VOLATILE function may go to a replica; unlisted it goes to the primary", async () => {
    const text = `SELECT ${S}.report_total() AS total`;
    const plain = await startRouter();
    try {
      const r = await routedRead(plain.router, text);
      expect(r.servedBy).toBe("primary");
    } finally {
      await plain.router.close();
    }
    const listed = await startRouter({
      READ_ONLY_FUNCTIONS: `${S}.report_total`,
    });
    try {
      const r = await routedRead(listed.router, text);
      expect(r.rows).toEqual([{ total: String((500 * 501) / 2) }]);
      expect(r.servedBy).toMatch(/^replica_/);
      expect(listed.misses()).toBe(0);
    } finally {
      await listed.router.close();
    }
  });
});

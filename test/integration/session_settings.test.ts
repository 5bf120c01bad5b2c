/**
 * createPgPoolSettingSessionOnConnect against real servers: every connection
 * of every node's pool gets DB_QUERY_TIMEOUT as `statement_timeout` and
 * `<prefix>:<node>` as `application_name`, set by a statement on connect.
 *
 * Every URL here carries the startup parameters Encore's database proxy ends
 * up with upstream (no statement timeout, application_name `encore`), so a
 * connection only shows the configured values if the factory set them after
 * startup.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../backend/database/router/config/load_config";
import type { DbNode } from "../../backend/database/router/nodes/db_node";
import { silentLogger } from "../../backend/database/router/support/logger";
import { createPgPoolSettingSessionOnConnect } from "../../backend/database/router/nodes/pg_pool";
import { ReplicaRouter } from "../../backend/database/router/replica_router";
import { eventually, sql } from "./helpers/clusters";

const { primaryUrl, replicaUrls } = inject("clusterUrls");

const PREFIX = "session-test";
const TIMEOUT_ENV = { DB_QUERY_TIMEOUT: "1500ms" };

/** `url` with the startup parameters the Encore proxy would send instead of ours. */
function asBehindEncoreProxy(url: string): string {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}options=-c%20statement_timeout%3D0&application_name=encore`;
}

const nodes = [
  { name: "primary", url: primaryUrl, recovery: false },
  ...replicaUrls.map((url, i) => ({
    name: `replica_${i + 1}`,
    url,
    recovery: true,
  })),
];

async function openRouter(env: Record<string, string>): Promise<ReplicaRouter> {
  const config = loadConfig({
    DATABASE_URL: asBehindEncoreProxy(primaryUrl),
    READ_REPLICA_URLS: replicaUrls.map(asBehindEncoreProxy).join(","),
    DB_APPLICATION_NAME: PREFIX,
    ...env,
  });
  const router = new ReplicaRouter(config.router, {
    logger: silentLogger,
    poolFactory: createPgPoolSettingSessionOnConnect,
  });
  await router.start();
  return router;
}

function nodeNamed(router: ReplicaRouter, name: string): DbNode {
  const node = router.clusters[0]!.nodes.find((n) => n.name === name);
  if (node === undefined) throw new Error(`no node ${name}`);
  return node;
}

interface SessionRow {
  pid: number;
  statement_timeout: string;
  application_name: string;
  in_recovery: boolean;
}

const SESSION_SQL = `SELECT pg_backend_pid() AS pid,
  current_setting('statement_timeout') AS statement_timeout,
  current_setting('application_name') AS application_name,
  pg_is_in_recovery() AS in_recovery`;

async function session(node: DbNode): Promise<SessionRow> {
  const [row] = await node.query(SESSION_SQL, []);
  return row as unknown as SessionRow;
}

it("the control: a connection without the factory obeys the URL's startup parameters", async () => {
  for (const { url } of nodes) {
    const [row] = await sql(asBehindEncoreProxy(url), SESSION_SQL);
    expect(row).toMatchObject({
      statement_timeout: "0",
      application_name: "encore",
    });
  }
});

describe("a router built with createPgPoolSettingSessionOnConnect", () => {
  let router: ReplicaRouter;

  beforeAll(async () => {
    router = await openRouter(TIMEOUT_ENV);
  });

  afterAll(async () => {
    await router?.close();
  });

  it("has a primary and at least one replica to check", () => {
    expect(nodes.filter((n) => n.recovery).length).toBeGreaterThan(0);
  });

  it.each(nodes)(
    "$name: every connection of the pool has the timeout and application name",
    async ({ name, url, recovery }) => {
      const node = nodeNamed(router, name);
      // Four statements at once hold four connections, so the pool opens new
      // ones beyond the idle one the health check left.
      const rows = await Promise.all(
        Array.from({ length: 4 }, async () => {
          const [row] = await node.query(
            `${SESSION_SQL} FROM pg_sleep(0.2)`,
            [],
          );
          return row as unknown as SessionRow;
        }),
      );
      expect(new Set(rows.map((r) => r.pid)).size).toBe(4);
      for (const row of rows) {
        expect(row).toEqual({
          pid: row.pid,
          statement_timeout: "1500ms",
          application_name: `${PREFIX}:${name}`,
          in_recovery: recovery,
        });
      }
      // What operators see in pg_stat_activity.
      const seen = await sql(
        url,
        "SELECT application_name FROM pg_stat_activity WHERE pid = ANY($1::int[])",
        [rows.map((r) => r.pid)],
      );
      expect(seen.map((r) => r.application_name)).toEqual(
        rows.map(() => `${PREFIX}:${name}`),
      );
    },
  );

  it.each(nodes)(
    "$name: a statement longer than DB_QUERY_TIMEOUT is cancelled by the server (57014)",
    async ({ name }) => {
      const node = nodeNamed(router, name);
      // SQLSTATE 57014 is the server's cancel at 1.5 s; pg's client-side
      // query_timeout (2.5 s) would reject with no SQLSTATE.
      await expect(node.query("SELECT pg_sleep(5)", [])).rejects.toMatchObject({
        code: "57014",
      });
      // A cancelled statement leaves the connection usable.
      expect((await session(node)).statement_timeout).toBe("1500ms");
    },
  );
});

describe("connections opened after the pool recycles", () => {
  let router: ReplicaRouter;

  beforeAll(async () => {
    // Every connection is retired after 1 s, so new ones keep being opened.
    router = await openRouter({ ...TIMEOUT_ENV, DB_MAX_LIFETIME: "1s" });
  });

  afterAll(async () => {
    await router?.close();
  });

  it.each(nodes)(
    "$name: a replacement connection is set up too",
    async ({ name }) => {
      const node = nodeNamed(router, name);
      const first = await session(node);
      const later = await eventually(async () => {
        const row = await session(node);
        if (row.pid === first.pid) throw new Error("not recycled yet");
        return row;
      }, 10_000);
      for (const row of [first, later]) {
        expect(row.statement_timeout).toBe("1500ms");
        expect(row.application_name).toBe(`${PREFIX}:${name}`);
      }
    },
  );
});

describe("a failing setup statement", () => {
  it("reaches the caller, and the connection is closed, never used", async () => {
    const doomed = `doomed-${process.pid}`;
    const limits = loadConfig({ DATABASE_URL: primaryUrl }).router.pool;
    // -1ms is outside statement_timeout's range: set_config fails with 22023.
    const pool = createPgPoolSettingSessionOnConnect(
      `${primaryUrl}${primaryUrl.includes("?") ? "&" : "?"}application_name=${doomed}`,
      { ...limits, queryTimeoutMs: -1 },
      `${PREFIX}:doomed`,
    );
    pool.on("error", () => {});
    try {
      await expect(pool.query("SELECT 1", [])).rejects.toMatchObject({
        code: "22023",
      });
      await expect(pool.connect()).rejects.toMatchObject({ code: "22023" });
      expect(pool.totalCount).toBe(0);
      await eventually(async () => {
        const [row] = await sql(
          primaryUrl,
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
          [doomed],
        );
        expect(row.n).toBe(0);
      });
    } finally {
      await pool.end();
    }
  });
});

/**
 * What the two pool factories hand to `pg.Pool`, read back from the
 * constructed pool's `options` (constructing a pool opens no connection).
 * The session settings against a real server: integration/session_settings.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import type { PoolConfig } from "../../backend/database/router/config/config";
import {
  createPgPool,
  createPgPoolSettingSessionOnConnect,
  type PoolFactory,
} from "../../backend/database/router/nodes/pg_pool";

const PG_URL = "postgres://app@127.0.0.1:5432/app";
const APP_NAME = "replica-router:replica_1";
const LIMITS: PoolConfig = {
  maxConnections: 7,
  minConnections: 2,
  idleTimeoutMs: 600_000,
  maxLifetimeMs: 3_600_000,
  connectionTimeoutMs: 30_000,
  queryTimeoutMs: 1_500,
  applicationName: "replica-router",
  queueMax: 100,
  queueTimeoutMs: 1_000,
};

const pools: pg.Pool[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

function build(factory: PoolFactory): pg.Pool {
  const pool = factory(PG_URL, LIMITS, APP_NAME);
  if (!(pool instanceof pg.Pool)) throw new Error("not a pg.Pool");
  pools.push(pool);
  return pool;
}

/** A new client as far as the session setup sees it: records statements. */
class RecordingClient {
  readonly calls: { text: string; values: unknown[] }[] = [];
  constructor(private readonly failWith: Error | null = null) {}

  async query(text: string, values: unknown[]): Promise<unknown> {
    this.calls.push({ text, values });
    if (this.failWith !== null) throw this.failWith;
    return { rows: [] };
  }
}

/** The pool's `onConnect`, called with a fake client; resolves when pg-pool would hand the client out. */
async function runOnConnect(
  pool: pg.Pool,
  client: RecordingClient,
): Promise<void> {
  const hook = pool.options.onConnect;
  if (hook === undefined) throw new Error("the pool has no onConnect");
  // pg-pool awaits what onConnect returns; @types/pg types it as void and
  // wants a whole pg.ClientBase, of which the setup uses only query().
  await hook(client as unknown as pg.ClientBase);
}

const withoutSessionSettings = (options: pg.PoolOptions) => {
  const {
    statement_timeout: _st,
    application_name: _app,
    onConnect: _hook,
    ...rest
  } = options;
  return rest;
};

describe("createPgPool (the default)", () => {
  it("sends statement_timeout and application_name as startup parameters, no onConnect", () => {
    const { options } = build(createPgPool);
    expect(options.statement_timeout).toBe(1_500);
    expect(options.application_name).toBe(APP_NAME);
    expect(options.onConnect).toBeUndefined();
    expect(options).toMatchObject({
      connectionString: PG_URL,
      max: 7,
      min: 2,
      idleTimeoutMillis: 600_000,
      maxLifetimeSeconds: 3_600,
      connectionTimeoutMillis: 30_000,
      query_timeout: 2_500,
      keepAlive: true,
    });
  });
});

describe("createPgPoolSettingSessionOnConnect", () => {
  it("passes neither setting as a startup parameter", () => {
    const { options } = build(createPgPoolSettingSessionOnConnect);
    expect(options).not.toHaveProperty("statement_timeout");
    expect(options).not.toHaveProperty("application_name");
  });

  it("keeps every other option of the default pool: limits, query_timeout backstop, keepAlive", () => {
    const plain = build(createPgPool).options;
    const session = build(createPgPoolSettingSessionOnConnect).options;
    expect(withoutSessionSettings(session)).toEqual(
      withoutSessionSettings(plain),
    );
    expect(session.query_timeout).toBe(2_500);
    expect(session.keepAlive).toBe(true);
  });

  it("sets both on connect with one statement, values passed as parameters", async () => {
    const pool = build(createPgPoolSettingSessionOnConnect);
    const client = new RecordingClient();
    await runOnConnect(pool, client);
    expect(client.calls).toHaveLength(1);
    const { text, values } = client.calls[0]!;
    expect(text).toMatch(/set_config\('statement_timeout', \$1, false\)/);
    expect(text).toMatch(/set_config\('application_name', \$2, false\)/);
    expect(values).toEqual(["1500ms", APP_NAME]);
    // Nothing interpolated into the SQL text.
    expect(text).not.toContain("1500");
    expect(text).not.toContain(APP_NAME);
  });

  it("rejects with the statement's error, so pg-pool ends the client and the caller gets it", async () => {
    const pool = build(createPgPoolSettingSessionOnConnect);
    const refused = Object.assign(new Error("invalid value"), {
      code: "22023",
    });
    await expect(runOnConnect(pool, new RecordingClient(refused))).rejects.toBe(
      refused,
    );
  });
});

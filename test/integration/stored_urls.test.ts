/**
 * A replica added through the admin API is stored for the fleet on the
 * primary, and so on every replica, in WAL archives and backups: its URL
 * holds a password. It is stored sealed (AES-256-GCM under
 * STORED_URL_KEY); without a key such adds are refused; a key rotated out
 * (STORED_URL_OLD_KEYS) still opens what it sealed.
 */
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { startTestApp, type TestApp, uniqueFleetName } from "./helpers/app";
import { eventually } from "./helpers/clusters";

const { primaryUrl, replicaUrls } = inject("clusterUrls");
const PASSWORD = "S3cretStoredPw";
const ADMIN_TOKEN = "stored-urls-admin-token-0123";
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const KEY_1 = Buffer.alloc(32, 1).toString("base64");
const KEY_2 = Buffer.alloc(32, 2).toString("base64");
const fleet = uniqueFleetName();
const apps: TestApp[] = [];

/** The second replica's URL, with a password (the test cluster trusts loopback and ignores it). */
function withPassword(url: string): string {
  const u = new URL(url);
  u.username = "postgres";
  u.password = PASSWORD;
  return u.toString();
}

async function start(env: Record<string, string>): Promise<TestApp> {
  const t = await startTestApp(primaryUrl, [replicaUrls[0]!], {
    FLEET_NAME: fleet,
    ADMIN_TOKEN,
    FLEET_POLL_INTERVAL: "200ms",
    ...env,
  });
  apps.push(t);
  return t;
}

/** The stored connection strings of this fleet, read on `url`'s server. */
async function stored(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ connection_string: string }>(
      "SELECT connection_string FROM router_control_state WHERE fleet = $1 AND connection_string IS NOT NULL ORDER BY key",
      [fleet],
    );
    return r.rows.map((x) => x.connection_string);
  } finally {
    await client.end();
  }
}

const replicaNames = async (t: TestApp) =>
  (
    await t.call("GET", "/v1/system/database/replicas/status", undefined, admin)
  ).body.replicas.map((r: { name: string }) => r.name);

afterAll(async () => {
  for (const t of apps) await t.close();
});

describe("replica URLs stored by the fleet", () => {
  it("are stored sealed: no password or URL on the primary, nor on a replica", async () => {
    const a = await start({ STORED_URL_KEY: KEY_1 });
    const added = await a.call(
      "POST",
      "/v1/system/database/replicas",
      { connectionString: withPassword(replicaUrls[1]!), name: "replica_5" },
      admin,
    );
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    for (const server of [primaryUrl, replicaUrls[0]!]) {
      const rows = await eventually(async () => {
        const r = await stored(server);
        if (r.length !== 1) throw new Error(`${r.length} rows`);
        return r;
      });
      expect(rows[0]).toMatch(/^sealed:v1:[0-9a-f]{8}:/);
      expect(rows[0]).not.toContain(PASSWORD);
      expect(rows[0]).not.toContain("postgres://");
    }
  });

  it("without STORED_URL_KEY an add is refused, saying how to set one", async () => {
    const b = await start({ STORED_URL_KEY: "" });
    const refused = await b.call(
      "POST",
      "/v1/system/database/replicas",
      { connectionString: withPassword(replicaUrls[1]!), name: "replica_6" },
      admin,
    );
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(
      /STORED_URL_KEY .*openssl rand -base64 32/,
    );
    expect(JSON.stringify(refused.body)).not.toContain(PASSWORD);
    // It cannot open what the fleet stored either: the replica is not added here.
    expect(await replicaNames(b)).toEqual(["replica_1"]);
  });

  it("a rotated key: the new key with the old one in STORED_URL_OLD_KEYS opens both; the new key alone opens what it sealed", async () => {
    const c = await start({
      STORED_URL_KEY: KEY_2,
      STORED_URL_OLD_KEYS: KEY_1,
    });
    await eventually(async () => {
      expect(await replicaNames(c)).toEqual(["replica_1", "replica_5"]);
    }, 15_000);
    // Re-adding under the new key: remove, add again (sealed with key 2).
    for (const [method, path, body] of [
      ["DELETE", "/v1/system/database/replicas/replica_5", undefined],
      [
        "POST",
        "/v1/system/database/replicas",
        { connectionString: withPassword(replicaUrls[1]!), name: "replica_7" },
      ],
    ] as const) {
      const r = await c.call(method, path, body, admin);
      expect(
        r.status,
        `${method} ${path}: ${JSON.stringify(r.body)}`,
      ).toBeLessThan(300);
    }
    const d = await start({ STORED_URL_KEY: KEY_2 });
    await eventually(async () => {
      expect(await replicaNames(d)).toEqual(["replica_1", "replica_7"]);
    }, 15_000);
    const rows = await stored(primaryUrl);
    expect(rows).toHaveLength(1);
    expect(rows[0]).not.toContain(PASSWORD);
  });
});

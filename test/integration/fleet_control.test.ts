/**
 * The fleet control plane with three standalone instances on one cluster of
 * their own: admin changes made through one instance are in force on the
 * others within 2 s and survive restarts; replicas added at run time reach
 * every instance, also ones started later; with the primary stopped changes
 * are refused everywhere while reads go on, and every instance converges
 * once it is back; the fleet view lists the instances, marks a killed one
 * gone and shows a disagreement when one instance's path to a replica is cut.
 */
import net from "node:net";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NameTakenError,
  PgControlStore,
} from "../../backend/database/control/control_store";
import type { LocalCluster } from "../../backend/standalone/local_cluster/local_cluster";
import {
  MIGRATIONS_DIR,
  runMigrations,
} from "../../backend/standalone/migrate";
import type { Logger } from "../../backend/database/router/support/logger";
import {
  FAST_ENV,
  startTestApp,
  type HttpResult,
  type TestApp,
} from "./helpers/app";
import { withFreshCluster } from "./helpers/clusters";
import { orgIdBlock } from "./helpers/http";
import { spawnService, type SpawnedService } from "./helpers/service";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp_proxy";
import { report, verbose } from "../support/verbose";

const ADMIN_TOKEN = "fleet-admin-token-0123456789";
const AUTH = { authorization: `Bearer ${ADMIN_TOKEN}` };
/** Appears in the URL of the replica added at run time; must never come back out. */
const PASSWORD = "Fleet-Secret-pw-7731";
const FLEET_ENV = {
  ADMIN_TOKEN,
  FLEET_NAME: `fleet-test-${process.pid}`,
  // The version check stays at its default (1 s): changes arrive by NOTIFY.
  FLEET_HEARTBEAT_INTERVAL: "250ms",
  FLEET_INSTANCE_TIMEOUT: "1500ms",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const [org] = orgIdBlock(1) as [number];

let cluster: LocalCluster;
let proxy: TcpProxy;
let a: TestApp;
let b: TestApp;
let c: TestApp;
const extra: TestApp[] = [];
let killed: SpawnedService | null = null;
/** Every log line and response body of the run, checked for the password at the end. */
const logged: string[] = [];
const bodies: string[] = [];
const capture: Logger = {
  info: (m, f) => logged.push(JSON.stringify([m, f])),
  warn: (m, f) => logged.push(JSON.stringify([m, f])),
  error: (m, f) => logged.push(JSON.stringify([m, f])),
};
/** Propagation times, printed at the end. */
const timings: { change: string; instance: string; ms: number }[] = [];

/** Instance env: replica_1 and replica_2 (C reaches replica_1 through the proxy). */
function replicaUrls(viaProxy: boolean): string[] {
  const [r1, r2] = cluster.replicas;
  return [
    viaProxy ? r1!.url.replace(`:${r1!.port}/`, `:${proxy.port}/`) : r1!.url,
    r2!.url,
  ];
}

async function start(
  viaProxy = false,
  opts: { migrate?: boolean } = {},
): Promise<TestApp> {
  return startTestApp(
    cluster.primary.url,
    replicaUrls(viaProxy),
    FLEET_ENV,
    { logger: capture },
    opts,
  );
}

async function call(
  t: TestApp,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult> {
  const res = await t.call(method, path, body, headers);
  bodies.push(
    typeof res.body === "string" ? res.body : JSON.stringify(res.body),
  );
  return res;
}

interface NodeView {
  name: string;
  state: string;
  circuit: string;
}
async function status(t: TestApp): Promise<{
  replicas: NodeView[];
  switches: { disabledEndpoints: string[] };
}> {
  return (await call(t, "GET", "/v1/system/database/replicas/status")).body;
}

/** Polls `check` on `t` every 20 ms until it holds; the time it took, or throws after `limitMs`. */
async function until(
  what: string,
  check: () => Promise<boolean>,
  limitMs = 10_000,
): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    if (await check()) return performance.now() - t0;
    await sleep(20);
  }
  throw new Error(`${what}: not within ${limitMs} ms`);
}

/** Waits until `check` holds on B and C, recording how long each took after the change returned. */
async function onOthers(
  change: string,
  check: (t: TestApp) => Promise<boolean>,
): Promise<void> {
  const t0 = performance.now();
  await Promise.all(
    (
      [
        ["B", b],
        ["C", c],
      ] as const
    ).map(async ([name, t]) => {
      await until(`${change} on ${name}`, () => check(t));
      timings.push({ change, instance: name, ms: performance.now() - t0 });
    }),
  );
}

const endpointOff = async (t: TestApp) =>
  (await status(t)).switches.disabledEndpoints.includes("finance.sumRevenues");
const circuitOpen = async (t: TestApp) =>
  (await status(t)).replicas.some(
    (r) => r.name === "replica_1" && r.circuit === "open",
  );
const replica2Gone = async (t: TestApp) =>
  !(await status(t)).replicas.some((r) => r.name === "replica_2");
const replica3Serving = async (t: TestApp) =>
  (await status(t)).replicas.some(
    (r) => r.name === "replica_3" && r.state === "healthy",
  );

beforeAll(async () => {
  cluster = await withFreshCluster(3);
  await runMigrations(cluster.primary.url, MIGRATIONS_DIR);
  proxy = await startTcpProxy(cluster.replicas[0]!.port);
  [a, b, c] = await Promise.all([start(), start(), start(true)]);
});

afterAll(async () => {
  if (timings.length > 0) {
    report("fleet control: time from the change's answer on A until in force");
    if (verbose)
      console.table(timings.map((t) => ({ ...t, ms: Math.round(t.ms) })));
  }
  await killed?.stop("SIGKILL");
  for (const t of [a, b, c, ...extra]) await t?.close().catch(() => {});
  await proxy?.close();
  await cluster?.destroy();
});

describe("fleet control plane, three instances", () => {
  it("the fleet view lists every instance, flags a cut path to a replica, and marks a killed instance gone", async () => {
    killed = await spawnService({
      ...process.env,
      ...FAST_ENV,
      ...FLEET_ENV,
      PORT: "0",
      DATABASE_URL: cluster.primary.url,
      READ_REPLICA_URLS: replicaUrls(false).join(","),
    });
    const fleet = async () =>
      // With the token: instance ids as they are (pseudonyms without it).
      (
        await call(
          a,
          "GET",
          "/v1/system/database/replicas/fleet",
          undefined,
          AUTH,
        )
      ).body as {
        self: string;
        instances: { instanceId: string; status: string; self: boolean }[];
        replicas: {
          name: string;
          servingOn: string[];
          notServingOn: { instanceId: string; state: string }[];
          disagreement: boolean;
        }[];
        disagreements: string[];
      };
    await until("four live instances", async () => {
      const f = await fleet();
      return f.instances.filter((i) => i.status === "live").length === 4;
    });
    const ids = {
      a: a.app.control.instanceId,
      b: b.app.control.instanceId,
      c: c.app.control.instanceId,
    };
    expect((await fleet()).disagreements).toEqual([]);

    // C's path to replica_1 is cut: C sees it down, A and B healthy.
    proxy.cut();
    await until("disagreement on replica_1", async () =>
      (await fleet()).disagreements.includes("main:replica_1"),
    );
    const r1 = (await fleet()).replicas.find((r) => r.name === "replica_1")!;
    expect(r1.servingOn).toEqual(expect.arrayContaining([ids.a, ids.b]));
    expect(r1.notServingOn.map((x) => x.instanceId)).toEqual([ids.c]);
    proxy.restore();

    // A killed instance stops heart-beating and is marked gone within its timeout.
    const killedAt = performance.now();
    await killed.stop("SIGKILL");
    // Its timeout is 1.5 s; 25 s is ten times what it takes on a busy machine.
    await until(
      "killed instance gone",
      async () => {
        const f = await fleet();
        return f.instances.some(
          (i) =>
            ![ids.a, ids.b, ids.c].includes(i.instanceId) &&
            i.status === "gone",
        );
      },
      25_000,
    );
    timings.push({
      change: "killed instance shown gone (timeout 1.5 s)",
      instance: "-",
      ms: performance.now() - killedAt,
    });
    const f = await fleet();
    expect(f.instances.filter((i) => i.status === "live")).toHaveLength(3);
    // B's view is served by A from B's heartbeat; A's own is marked self.
    expect(f.instances.find((i) => i.self)!.instanceId).toBe(ids.a);
    // C's path is back: the disagreement clears (health interval 500 ms, breaker 2 s).
    await until(
      "replica_1 agreed again",
      async () => (await fleet()).disagreements.length === 0,
    );
  });

  it("an endpoint switch, a forced circuit and a replica removal through A are in force on B and C, and survive restarting B", async () => {
    let res = await call(
      a,
      "PUT",
      "/v1/system/database/read-replicas/endpoints/finance.sumRevenues",
      { enabled: false },
      { ...AUTH, "x-actor": "ops@example.com" },
    );
    expect(res.status).toBe(200);
    await onOthers("endpoint switch", endpointOff);

    res = await call(
      a,
      "POST",
      "/v1/system/database/replicas/replica_1/circuit/open",
      undefined,
      AUTH,
    );
    expect(res.body).toEqual({ name: "replica_1", circuit: "open" });
    await onOthers("forced circuit", circuitOpen);

    res = await call(
      a,
      "DELETE",
      "/v1/system/database/replicas/replica_2",
      undefined,
      AUTH,
    );
    expect(res.status).toBe(200);
    await onOthers("replica removal", replica2Gone);

    // Reads on B now skip both: the sum goes to the primary (switch), a list too (no replica serves).
    const sum = await call(b, "GET", `/v1/finance/orgs/${org}/revenues/sum`);
    expect(sum.status).toBe(200);
    expect(sum.servedBy).toBe("primary");

    // B restarts with the same environment (which lists replica_2): the stored state wins.
    await b.close();
    b = await start();
    expect(await endpointOff(b)).toBe(true);
    expect(await circuitOpen(b)).toBe(true);
    expect(await replica2Gone(b)).toBe(true);

    // Each change has one audit row, newest first, with the actor where given.
    const audit = await call(
      a,
      "GET",
      "/v1/system/database/replicas/admin/audit?limit=3",
      undefined,
      AUTH,
    );
    expect(audit.status).toBe(200);
    expect(
      audit.body.entries.map((e: { action: string; target: string }) => [
        e.action,
        e.target,
      ]),
    ).toEqual([
      ["removed a replica", "main:replica_2"],
      ["opened a circuit", "main:replica_1"],
      ["switched replica reads for an endpoint", "finance.sumRevenues"],
    ]);
    expect(audit.body.entries[2].actor).toBe("ops@example.com");
    expect(audit.body.entries[0].instanceId).toBe(a.app.control.instanceId);
    const noToken = await call(
      a,
      "GET",
      "/v1/system/database/replicas/admin/audit",
    );
    expect(noToken.status).toBe(401);
    const badLimit = await call(
      a,
      "GET",
      "/v1/system/database/replicas/admin/audit?limit=0",
      undefined,
      AUTH,
    );
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.message).toContain("limit");
    const badActor = await call(
      a,
      "PUT",
      "/v1/system/database/read-replicas/endpoints/finance.sumRevenues",
      { enabled: true },
      { ...AUTH, "x-actor": "<script>" },
    );
    expect(badActor.status).toBe(400);
    expect(badActor.body.message).toContain("X-Actor");
    // Refused before anything was stored.
    expect(await endpointOff(c)).toBe(true);
  });

  it("a replica added through A is verified and serving on B and C, and on an instance started afterwards", async () => {
    const r3 = cluster.replicas[2]!;
    const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${r3.port}/${cluster.database}`;
    const res = await call(
      a,
      "POST",
      "/v1/system/database/replicas",
      { connectionString: url, name: "replica_3" },
      AUTH,
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ name: "replica_3", state: "healthy" });
    await onOthers("replica added", replica3Serving);
    // replica_1 is forced open and replica_2 removed: replica_3 is the one replica serving.
    for (const t of [b, c]) {
      const list = await call(t, "GET", `/v1/finance/orgs/${org}/revenues`);
      expect(list.status).toBe(200);
      expect(list.servedBy).toBe("replica_3");
    }
    const d = await start();
    extra.push(d);
    expect(await replica3Serving(d)).toBe(true);
    const list = await call(d, "GET", `/v1/finance/orgs/${org}/revenues`);
    expect(list.servedBy).toBe("replica_3");

    // An instance whose environment lists replica_3 at another address
    // (replica_2's server) takes the stored one: the store wins.
    const r2 = cluster.replicas[1]!;
    const e = await startTestApp(
      cluster.primary.url,
      [...replicaUrls(false), r2.url],
      FLEET_ENV,
      { logger: capture },
    );
    extra.push(e);
    const addressOf3 = async (t: TestApp) =>
      (
        await call(
          t,
          "GET",
          "/v1/system/database/replicas/status",
          undefined,
          AUTH,
        )
      ).body.replicas.find((r: { name: string }) => r.name === "replica_3")
        ?.address;
    await until("E replaced its replica_3", async () =>
      String(await addressOf3(e)).startsWith(`127.0.0.1:${r3.port}/`),
    );

    // A bad URL is refused on A and stored nowhere.
    const bad = await call(
      a,
      "POST",
      "/v1/system/database/replicas",
      {
        connectionString: `postgres://postgres@127.0.0.1:${cluster.primary.port}/${cluster.database}`,
        name: "replica_9",
      },
      AUTH,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain("connectionString");
    await sleep(300);
    expect((await status(b)).replicas.some((r) => r.name === "replica_9")).toBe(
      false,
    );
  });

  it("a stored replica that instances cannot reach stays pending there, without holding up other changes", async () => {
    // A server that accepts connections and never answers: each probe waits
    // for DB_CONNECTION_TIMEOUT (2 s here).
    const held = new Set<net.Socket>();
    const hole = net.createServer((socket) => {
      held.add(socket);
      socket.on("close", () => held.delete(socket));
    });
    await new Promise<void>((r) => hole.listen(0, "127.0.0.1", r));
    const holePort = (hole.address() as net.AddressInfo).port;
    const pool = new pg.Pool({ connectionString: cluster.primary.url, max: 1 });
    const store = new PgControlStore(pool, FLEET_ENV.FLEET_NAME);
    const key = {
      kind: "replica",
      cluster: "main",
      name: "replica_8",
    } as const;
    const origin = { instanceId: "test", actor: null };
    try {
      // As if added through an instance that could reach it.
      await store.commit(
        {
          set: [
            {
              key,
              value: { present: true },
              connectionString: `postgres://postgres@127.0.0.1:${holePort}/${cluster.database}`,
            },
          ],
          action: "added a replica",
          target: "main:replica_8",
          detail: {},
        },
        origin,
      );
      await sleep(100);
      const res = await call(
        a,
        "PUT",
        "/v1/system/database/read-replicas/endpoints/invoices.listInvoices",
        { enabled: false },
        AUTH,
      );
      expect(res.status).toBe(200);
      await onOthers("switch while a stored replica hangs", async (t) =>
        (await status(t)).switches.disabledEndpoints.includes(
          "invoices.listInvoices",
        ),
      );
      // Each instance lists it as pending, with why; none serves it.
      await until(
        "replica_8 pending on B and C",
        async () => {
          const f = (
            await call(
              a,
              "GET",
              "/v1/system/database/replicas/fleet",
              undefined,
              AUTH,
            )
          ).body as {
            instances: { instanceId: string; pending: { key: string }[] }[];
          };
          return [b, c].every((t) =>
            f.instances
              .find((i) => i.instanceId === t.app.control.instanceId)
              ?.pending.some((p) => p.key === "replica:main:replica_8"),
          );
        },
        15_000,
      );
      expect(
        (await status(b)).replicas.some((r) => r.name === "replica_8"),
      ).toBe(false);
    } finally {
      await store.commit(
        {
          set: [{ key, value: { present: false } }],
          action: "removed a replica",
          target: "main:replica_8",
          detail: {},
        },
        origin,
      );
      await store.close();
      for (const socket of held) socket.destroy();
      await new Promise((r) => hole.close(r));
    }
  });

  it("with the primary stopped, a change is a 503 on every instance and reads go on; once it is back, all converge to the stored state", async () => {
    await cluster.stopNode("primary", "fast");
    for (const t of [a, b, c]) {
      const res = await call(
        t,
        "PUT",
        "/v1/system/database/read-replicas/endpoints/finance.listRevenues",
        { enabled: false },
        AUTH,
      );
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body.message).toContain("control store");
      expect(res.body.message).toContain("made on no instance");
      // Reads continue on the replica every instance still serves.
      const list = await call(t, "GET", `/v1/finance/orgs/${org}/revenues`);
      expect(list.status).toBe(200);
      expect(list.servedBy).toBe("replica_3");
      expect((await status(t)).switches.disabledEndpoints).not.toContain(
        "finance.listRevenues",
      );
    }
    // B restarts while the primary is down: it starts from its environment
    // (replica_2 back, no circuit forced, no replica_3)...
    await b.close();
    b = await start(false, { migrate: false });
    expect(await replica2Gone(b)).toBe(false);
    expect(await replica3Serving(b)).toBe(false);

    // ...and converges once the primary is back, as A and C stay converged.
    await cluster.startNode("primary");
    const t0 = performance.now();
    await until(
      "B converged",
      async () =>
        (await endpointOff(b)) &&
        (await circuitOpen(b)) &&
        (await replica2Gone(b)) &&
        (await replica3Serving(b)),
      15_000,
    );
    timings.push({
      change: "converged after the primary returned",
      instance: "B (restarted while down)",
      ms: performance.now() - t0,
    });
    for (const t of [a, c]) {
      expect(await endpointOff(t)).toBe(true);
      expect(await circuitOpen(t)).toBe(true);
      expect(await replica2Gone(t)).toBe(true);
      expect(await replica3Serving(t)).toBe(true);
    }
    // The refused change was stored nowhere, and a new one reaches everyone again.
    const audit = await call(
      a,
      "GET",
      "/v1/system/database/replicas/admin/audit",
      undefined,
      AUTH,
    );
    expect(
      audit.body.entries.some(
        (e: { target: string }) => e.target === "finance.listRevenues",
      ),
    ).toBe(false);
    const res = await call(
      a,
      "POST",
      "/v1/system/database/replicas/replica_1/circuit/close",
      undefined,
      AUTH,
    );
    expect(res.status).toBe(200);
    await onOthers(
      "circuit closed after the primary returned",
      async (t) => !(await circuitOpen(t)),
    );
  });

  it("no response body or log line holds the password or the full connection string", async () => {
    // Fleet view and status from every instance, after all of the above.
    for (const t of [a, b, c]) {
      await call(t, "GET", "/v1/system/database/replicas/fleet");
      await call(t, "GET", "/v1/system/database/replicas/status");
    }
    expect(bodies.length).toBeGreaterThan(50);
    expect(logged.length).toBeGreaterThan(10);
    for (const text of [...bodies, ...logged, ...(killed?.lines ?? [])]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toMatch(/postgres(ql)?:\/\//);
    }
  });
});

describe("FLEET_CONTROL=local", () => {
  it("changes only this instance, keeps its audit trail in memory, and lists only itself", async () => {
    const solo = await startTestApp(
      cluster.primary.url,
      replicaUrls(false),
      { ...FLEET_ENV, FLEET_CONTROL: "local" },
      { logger: capture },
    );
    extra.push(solo);
    const res = await call(
      solo,
      "PUT",
      "/v1/system/database/cache/endpoints/finance.sumRevenues",
      { enabled: false },
      { ...AUTH, "x-actor": "solo" },
    );
    expect(res.status).toBe(200);
    expect(res.body.disabledEndpoints).toEqual(["finance.sumRevenues"]);
    const audit = await call(
      solo,
      "GET",
      "/v1/system/database/replicas/admin/audit",
      undefined,
      AUTH,
    );
    expect(audit.body.entries).toHaveLength(1);
    expect(audit.body.entries[0]).toMatchObject({
      action: "switched the query cache for an endpoint",
      actor: "solo",
    });
    const fleet = await call(solo, "GET", "/v1/system/database/replicas/fleet");
    expect(fleet.body.mode).toBe("local");
    expect(fleet.body.instances).toHaveLength(1);
    // The database fleet did not see it.
    const shared = await call(a, "GET", "/v1/system/database/replicas/status");
    expect(shared.body.cache.disabledEndpoints).not.toContain(
      "finance.sumRevenues",
    );
  });
});

describe("the control store", () => {
  it("refuses to store a replica name the fleet already has, and changes nothing", async () => {
    const pool = new pg.Pool({ connectionString: cluster.primary.url, max: 2 });
    const store = new PgControlStore(pool, `store-test-${process.pid}`);
    try {
      const key = {
        kind: "replica",
        cluster: "main",
        name: "replica_7",
      } as const;
      const add = {
        set: [
          {
            key,
            value: { present: true },
            connectionString: "postgres://x@127.0.0.1:1/app",
          },
        ],
        requireAbsent: [key],
        action: "added a replica",
        target: "main:replica_7",
        detail: {},
      };
      const origin = { instanceId: "t", actor: null };
      const v1 = await store.commit(add, origin);
      await expect(store.commit(add, origin)).rejects.toBeInstanceOf(
        NameTakenError,
      );
      expect(await store.version()).toBe(v1);
      expect(await store.audit(10)).toHaveLength(1);
      // Once removed (a tombstone), the name may be used again.
      await store.commit(
        {
          set: [{ key, value: { present: false } }],
          action: "removed a replica",
          target: "main:replica_7",
          detail: {},
        },
        origin,
      );
      expect(await store.commit(add, origin)).toBe(v1 + 2);
    } finally {
      await store.close();
    }
  });
});

/**
 * README's run command: `npm start` (= `node --import tsx backend/standalone/main.ts`) with
 * no DATABASE_URL starts a local primary + 2 replicas (in LOCAL_CLUSTER_DIR),
 * serves the API, and on SIGINT (Ctrl-C) / SIGTERM exits 0 and leaves no
 * PostgreSQL process of that folder behind. The second run restarts the
 * cluster the first one built.
 *
 * The test points LOCAL_CLUSTER_DIR at a folder of its own, so it never
 * touches a developer's `.data/cluster`; the guards below (skip when a server
 * of the folder runs, keep a cluster it found) stay as a safety net.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  removeLocalCluster,
  stopLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import { repoRoot } from "./helpers/clusters";
import {
  spawnService,
  type ServiceExit,
  type SpawnedService,
} from "./helpers/service";

const CLUSTER_DIR = path.join(repoRoot, ".data", `npm-start-${process.pid}`);
const START_TIMEOUT_MS = 45_000;
const EXIT_TIMEOUT_MS = 10_000;

/**
 * Command lines of live processes that name a path inside the cluster
 * folder (zombies ignored): the folder as requested, and where its data
 * really is (as root under a folder the postgres user cannot traverse, the
 * requested path is a link to a folder it can).
 */
function processesOfCluster(): string[] {
  const dirs = [CLUSTER_DIR];
  if (existsSync(CLUSTER_DIR)) dirs.push(realpathSync(CLUSTER_DIR));
  return execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter(
      (line) =>
        dirs.some((d) => line.includes(`${d}/`)) && !line.includes("<defunct>"),
    );
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Data directories of the cluster whose postmaster.pid names a live process (what `pg_ctl status` checks). */
function runningNodes(): string[] {
  if (!existsSync(path.join(CLUSTER_DIR, "cluster.json"))) return [];
  const state = JSON.parse(
    readFileSync(path.join(CLUSTER_DIR, "cluster.json"), "utf8"),
  ) as { nodes: { name: string }[] };
  return state.nodes
    .map((n) => n.name)
    .filter((name) => {
      const pidFile = path.join(CLUSTER_DIR, name, "postmaster.pid");
      if (!existsSync(pidFile)) return false;
      const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
      return Number.isInteger(pid) && pid > 0 && pidAlive(pid);
    });
}

/** Why the shared folder cannot be used now, or null when it is free. */
function clusterBusy(): string | null {
  try {
    const procs = processesOfCluster();
    if (procs.length > 0)
      return `processes of ${CLUSTER_DIR} are running (a developer's npm start?): ${procs[0]}`;
    const nodes = runningNodes();
    if (nodes.length > 0)
      return `node(s) ${nodes.join(", ")} of ${CLUSTER_DIR} are running (postmaster.pid of a live process)`;
    return null;
  } catch (err) {
    return `cannot tell whether ${CLUSTER_DIR} is in use: ${(err as Error).message}`;
  }
}

const busy = clusterBusy();
const existedBefore = existsSync(CLUSTER_DIR);
if (busy !== null) console.warn(`npm_start.test.ts: SKIPPED: ${busy}`);

/** The environment of `npm start` with no database configured, on a random port. */
function startEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(DATABASE_URL|READ_REPLICA_URLS|READ_REPLICA_\d+_CONNECTION_STRING|DB_CLUSTERS|ORG_RANGES|ADMIN_TOKEN|HOST|PORT|USE_READ_REPLICAS)$/.test(
        k,
      )
    )
      continue;
    env[k] = v;
  }
  env.PORT = "0";
  env.LOCAL_CLUSTER_DIR = CLUSTER_DIR;
  return env;
}

/** Every service started, so afterAll can stop what a failed test left running. */
const services: SpawnedService[] = [];
/** A start that failed (the helper killed the service): its cluster may still run. */
let startFailed = false;
/** Starts attempted so far; the second one finds the cluster the first built. */
let starts = 0;

/** Spawns main.ts through tsx in its own process group and waits (bounded) for its "listening" log line. */
async function start(): Promise<SpawnedService> {
  starts++;
  try {
    const s = await spawnService(startEnv(), {
      startTimeoutMs: START_TIMEOUT_MS,
      // Own process group, so SIGINT can be sent to the whole group the way a terminal's Ctrl-C does.
      detached: true,
    });
    services.push(s);
    return s;
  } catch (err) {
    startFailed = true;
    throw err;
  }
}

/** Resolves the exit, or fails after `ms`. */
async function exitWithin(s: SpawnedService, ms: number): Promise<ServiceExit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `still running ${ms} ms after the signal; stderr:\n${s.lines.slice(-10).join("\n")}`,
          ),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([s.exit, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET with a bounded wait. */
async function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; servedBy: string | null }> {
  const res = await fetch(url, {
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  return {
    status: res.status,
    body: await res.json(),
    servedBy: res.headers.get("x-served-by"),
  };
}

/** The development key `npm start` prints on stdout after it listens (waits up to 10 s). */
async function devKeyOf(s: SpawnedService): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const m = /Development API key[^\n]*\n\s*(rrk_\S+)/.exec(s.stdout.join(""));
    if (m !== null) return m[1]!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no development key on stdout: ${s.stdout.join("")}`);
}

/** Waits (bounded) until no live process names the cluster folder. */
async function noClusterProcesses(ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = processesOfCluster();
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  // A failed test may leave the service running: kill it, then stop the cluster it started
  // (only then: a cluster stopped by a clean exit is not touched again).
  let killed = startFailed;
  for (const s of services) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      await s.stop("SIGKILL");
      killed = true;
    }
  }
  if (busy !== null) return;
  if (killed) await stopLocalCluster(CLUSTER_DIR).catch(() => {});
  // Leave the folder as found: delete a cluster this file built, keep one it found.
  if (!existedBefore) await removeLocalCluster(CLUSTER_DIR);
}, 60_000);

describe.skipIf(busy !== null)(
  "npm start (node --import tsx main.ts) without DATABASE_URL",
  () => {
    it.each([
      ["SIGINT", "to the process group, like Ctrl-C"],
      ["SIGTERM", "to the process, like kill / docker stop"],
    ] as const)(
      "serves the status route, then on %s (%s) exits 0 and stops its cluster",
      async (signal, how) => {
        const s = await start();
        const run = starts;
        expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

        const status = await getJson(
          `${s.url}/v1/system/database/replicas/status`,
        );
        expect(status.status).toBe(200);
        expect(status.body.primary.name).toBe("primary");
        expect(
          status.body.replicas.map((r: { name: string }) => r.name),
        ).toEqual(["replica_1", "replica_2"]);
        expect(status.body.summary.total).toBe(2);
        expect(processesOfCluster().length).toBeGreaterThanOrEqual(3); // one postmaster per node
        // It printed a development key (stdout, not the log); a read with
        // it works and is served by a node of this cluster; without, 401.
        const key = await devKeyOf(s);
        expect(
          s.lines.some((l) => l.includes(key)),
          "the key is not in the JSON log",
        ).toBe(false);
        const anonymous = await getJson(
          `${s.url}/v1/finance/orgs/42/revenues?limit=1`,
        );
        expect(anonymous.status).toBe(401);
        const list = await getJson(
          `${s.url}/v1/finance/orgs/42/revenues?limit=1`,
          { authorization: `Bearer ${key}` },
        );
        expect(list.status).toBe(200);
        expect(["primary", "replica_1", "replica_2"]).toContain(list.servedBy);

        if (run > 1 || existedBefore) {
          // Restart: the cluster recorded in cluster.json is started, not rebuilt.
          expect(
            s.lines.some((l) => /initdb|pg_basebackup/.test(l)),
            s.lines.join("\n"),
          ).toBe(false);
          expect(s.lines.some((l) => l.includes("pg_ctl start"))).toBe(true);
        }

        if (how.startsWith("to the process group"))
          process.kill(-s.child.pid!, signal);
        else s.child.kill(signal);
        const { code } = await exitWithin(s, EXIT_TIMEOUT_MS);
        expect(code, s.lines.slice(-10).join("\n")).toBe(0);
        expect(s.lines.some((l) => l.includes('"stopped"'))).toBe(true);

        // Nothing of the cluster keeps running (postgres may take a moment to reap its children).
        expect(await noClusterProcesses(2_000)).toEqual([]);
        expect(runningNodes()).toEqual([]);
        await expect(
          fetch(`${s.url}/v1/system/database/replicas/status`, {
            signal: AbortSignal.timeout(2_000),
          }),
        ).rejects.toThrow();
      },
    );
  },
);

if (busy !== null) {
  describe("npm start (node --import tsx main.ts) without DATABASE_URL", () => {
    it.skip(`skipped: ${busy}`, () => {});
  });
}

/**
 * The local cluster manager against real PostgreSQL servers: a private
 * 2-replica cluster, an independent server, and the shared cluster from
 * global_setup.ts. Tests in the first block run in order; the last one stops
 * the cluster and starts it again. As root, a cluster asked for in a folder
 * the postgres user cannot traverse lives elsewhere, behind a symlink.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, realpathSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type ClusterNode,
  type LocalCluster,
  localClusterLocation,
  localClusterStatus,
  removeLocalCluster,
  startIndependentServer,
  startLocalCluster,
  stopLocalCluster,
} from "../../backend/standalone/local_cluster/local_cluster";
import {
  eventually,
  repoRoot,
  sql,
  withFreshCluster,
} from "./helpers/clusters";

async function inRecovery(url: string): Promise<boolean> {
  const [row] = await sql(url, "SELECT pg_is_in_recovery() AS r");
  return row.r;
}

async function systemIdentifier(url: string): Promise<string> {
  const [row] = await sql(
    url,
    "SELECT system_identifier::text AS id FROM pg_control_system()",
  );
  return row.id;
}

async function streamingNames(primaryUrl: string): Promise<string[]> {
  const rows = await sql(
    primaryUrl,
    "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
  );
  return rows.map((r) => r.application_name as string).sort();
}

/** Command lines of running processes that mention `dir` (postmasters are started with -D <dataDir>). */
function processesUsing(dir: string): string[] {
  return execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
    .split("\n")
    .filter((line) => line.includes(`${dir}/`));
}

describe("startLocalCluster with 2 replicas", () => {
  let cluster: LocalCluster;
  let independent: ClusterNode & { stop(): Promise<void> };
  const independentDir = path.join(
    repoRoot,
    ".data",
    `test-independent-${randomBytes(6).toString("hex")}`,
  );

  beforeAll(async () => {
    [cluster, independent] = await Promise.all([
      withFreshCluster(2),
      startIndependentServer({ dir: independentDir }),
    ]);
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
    await independent?.stop();
    await removeLocalCluster(independentDir);
  }, 120_000);

  it("has a primary out of recovery and two replicas in recovery", async () => {
    expect(cluster.replicas.map((r) => r.name)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    expect(await inRecovery(cluster.primary.url)).toBe(false);
    for (const replica of cluster.replicas)
      expect(await inRecovery(replica.url)).toBe(true);
  });

  it("lists both replicas by application name in the primary's pg_stat_replication", async () => {
    expect(await streamingNames(cluster.primary.url)).toEqual([
      "replica_1",
      "replica_2",
    ]);
  });

  it("replicates a row inserted on the primary to every replica", async () => {
    await sql(
      cluster.primary.url,
      "CREATE TABLE probe (id int PRIMARY KEY, note text)",
    );
    await sql(cluster.primary.url, "INSERT INTO probe VALUES (1, 'hello')");
    for (const replica of cluster.replicas) {
      const rows = await eventually(async () => {
        const found = await sql(
          replica.url,
          "SELECT note FROM probe WHERE id = 1",
        );
        expect(found).toHaveLength(1);
        return found;
      });
      expect(rows[0].note).toBe("hello");
    }
  });

  it("rejects writes on a replica with SQLSTATE 25006 (read_only_sql_transaction)", async () => {
    const replica = cluster.replicas[0]!;
    await expect(
      sql(replica.url, "CREATE TABLE nope (id int)"),
    ).rejects.toMatchObject({ code: "25006" });
  });

  it("returns the same running cluster when started again on the same dir", async () => {
    const again = await startLocalCluster({ dir: cluster.dir, replicas: 2 });
    expect(again.primary.port).toBe(cluster.primary.port);
    expect(again.replicas.map((r) => r.port)).toEqual(
      cluster.replicas.map((r) => r.port),
    );
    expect(await systemIdentifier(again.primary.url)).toBe(
      await systemIdentifier(cluster.primary.url),
    );
    expect(await streamingNames(cluster.primary.url)).toEqual([
      "replica_1",
      "replica_2",
    ]);
  });

  it("streams again after stopNode(immediate) and startNode of a replica", async () => {
    await cluster.stopNode("replica_1", "immediate");
    expect(await streamingNames(cluster.primary.url)).toEqual(["replica_2"]);
    // Written while replica_1 is down: its replication slot keeps the WAL until it is back.
    await sql(
      cluster.primary.url,
      "INSERT INTO probe VALUES (2, 'while down')",
    );
    await cluster.startNode("replica_1");
    expect(await streamingNames(cluster.primary.url)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    const replica1 = cluster.replicas[0]!;
    await eventually(async () =>
      expect(
        await sql(replica1.url, "SELECT 1 FROM probe WHERE id = 2"),
      ).toHaveLength(1),
    );
  });

  it("starts an independent server that is no replica and has its own system identifier", async () => {
    expect(independent.role).toBe("primary");
    expect(await inRecovery(independent.url)).toBe(false);
    expect(await systemIdentifier(independent.url)).not.toBe(
      await systemIdentifier(cluster.primary.url),
    );
  });

  it("leaves no postgres process behind after stop(), and restarts the same data", async () => {
    const identifier = await systemIdentifier(cluster.primary.url);
    expect(processesUsing(cluster.dir)).toHaveLength(3);
    await cluster.stop();
    expect(processesUsing(cluster.dir)).toEqual([]);
    await cluster.stop(); // idempotent

    const restarted = await startLocalCluster({ dir: cluster.dir });
    expect(restarted.primary.port).toBe(cluster.primary.port);
    expect(await systemIdentifier(restarted.primary.url)).toBe(identifier);
    expect(await streamingNames(restarted.primary.url)).toEqual([
      "replica_1",
      "replica_2",
    ]);
    const replica2 = restarted.replicas[1]!;
    await eventually(async () =>
      expect(
        await sql(replica2.url, "SELECT id FROM probe ORDER BY id"),
      ).toEqual([{ id: 1 }, { id: 2 }]),
    );
  });
});

describe("the shared cluster from global setup", () => {
  it("provides a primary and replicas in recovery", async () => {
    const { primaryUrl, replicaUrls } = inject("clusterUrls");
    expect(await inRecovery(primaryUrl)).toBe(false);
    expect(replicaUrls.length).toBeGreaterThan(0);
    for (const url of replicaUrls) expect(await inRecovery(url)).toBe(true);
  });
});

describe.skipIf(process.getuid?.() !== 0)(
  "as root, a cluster asked for in a folder the postgres user cannot traverse",
  () => {
    let parent = ""; // a mkdtemp folder: mode 0700, root's
    let requested = "";
    let orphan = "";
    let cluster: LocalCluster;

    beforeAll(async () => {
      parent = await mkdtemp(path.join(os.tmpdir(), "rr-closed-"));
      requested = path.join(parent, ".data", "cluster");
      // An old cluster folder there (postgres could never reach it): it is
      // replaced, being only what this project writes (its roster, and an
      // empty folder of a node it names).
      await mkdir(path.join(requested, "primary"), { recursive: true });
      await writeFile(
        path.join(requested, "cluster.json"),
        JSON.stringify({
          version: 1,
          database: "app",
          nodes: [{ name: "primary", role: "primary", port: 1 }],
        }) + "\n",
      );
    });

    afterAll(async () => {
      await removeLocalCluster(requested).catch(() => {});
      await removeLocalCluster(path.join(parent, "small")).catch(() => {});
      if (orphan !== "") await rm(orphan, { recursive: true, force: true });
      await rm(parent, { recursive: true, force: true });
    }, 120_000);

    it("serves from a folder postgres can reach, which the requested path links to", async () => {
      const place = await localClusterLocation(requested);
      expect(place.relocatedBecause).toBe(
        `the postgres user cannot traverse ${parent}`,
      );
      // A relocated folder whose link a caller removed (rm -rf of the link alone) is swept.
      orphan = path.join(path.dirname(place.dir), "cluster-orphan-of-a-test");
      await mkdir(path.join(orphan, "primary"), { recursive: true });
      await writeFile(
        path.join(orphan, "linked_from"),
        `${path.join(parent, "gone")}\n`,
      );

      cluster = await startLocalCluster({ dir: requested, replicas: 1 });
      expect(lstatSync(requested).isSymbolicLink()).toBe(true);
      expect(cluster.dir).toBe(realpathSync(requested));
      expect(cluster.dir).toBe(realpathSync(place.dir));
      expect(cluster.dir.startsWith(`${parent}/`)).toBe(false);
      expect(existsSync(orphan)).toBe(false);
      expect(await inRecovery(cluster.primary.url)).toBe(false);
      expect(await streamingNames(cluster.primary.url)).toEqual(["replica_1"]);
      expect(processesUsing(cluster.dir)).toHaveLength(2);
    });

    it("stops, and starts again from the same folder at the same ports", async () => {
      const identifier = await systemIdentifier(cluster.primary.url);
      await stopLocalCluster(requested);
      expect(processesUsing(cluster.dir)).toEqual([]);
      const stopped = await localClusterStatus(requested);
      expect(stopped?.map((n) => [n.name, n.running])).toEqual([
        ["primary", false],
        ["replica_1", false],
      ]);

      const again = await startLocalCluster({ dir: requested, replicas: 1 });
      expect(again.dir).toBe(cluster.dir);
      expect(again.primary.port).toBe(cluster.primary.port);
      expect(again.replicas[0]?.port).toBe(cluster.replicas[0]?.port);
      expect(await systemIdentifier(again.primary.url)).toBe(identifier);
      expect(await streamingNames(again.primary.url)).toEqual(["replica_1"]);
      cluster = again;
    });

    it("destroy() stops it and removes both the link and the folder it leads to", async () => {
      await cluster.destroy();
      expect(processesUsing(cluster.dir)).toEqual([]);
      expect(existsSync(cluster.dir)).toBe(false);
      expect(existsSync(path.dirname(requested))).toBe(true);
      expect(() => lstatSync(requested)).toThrow();
    });

    it("removeLocalCluster(dir) stops a running one and removes both too", async () => {
      const dir = path.join(parent, "small");
      const small = await startLocalCluster({ dir, replicas: 0 });
      expect(lstatSync(dir).isSymbolicLink()).toBe(true);
      await removeLocalCluster(dir);
      expect(processesUsing(small.dir)).toEqual([]);
      expect(existsSync(small.dir)).toBe(false);
      expect(() => lstatSync(dir)).toThrow();
    });

    it("refuses to replace a folder there that holds more than a cluster", async () => {
      const dir = path.join(parent, "notes");
      await mkdir(dir);
      await writeFile(path.join(dir, "todo.txt"), "keep me\n");
      await expect(startLocalCluster({ dir, replicas: 0 })).rejects.toThrow(
        /cannot traverse .*holds more than a local cluster/,
      );
      expect(existsSync(path.join(dir, "todo.txt"))).toBe(true);
    });
  },
);

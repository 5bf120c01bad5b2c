/**
 * Starting a built node and waiting until it is usable: a port taken by
 * someone else moves the node (and, for the primary, re-points every
 * replica), and a replica counts as up only once it streams.
 */
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { ClusterNode } from "./cluster_types";
import type { ClusterRoster } from "./cluster_roster";
import { setConf } from "./data_dir";
import { adminUrl, query, waitUntil } from "./node_query";
import { runPg } from "./pg_binaries";
import { pgCtlStatus, stepError } from "./pg_ctl";
import { freePort, portIsFree } from "./ports";

const SQL_READY_TIMEOUT_MS = 10_000;
const STREAMING_TIMEOUT_MS = 15_000;

/** Starts the nodes of one roster; writes cluster.json when a recorded node moves port. */
export class NodeStarter {
  constructor(
    private readonly roster: ClusterRoster,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Starts `node` if stopped (on a new port if its own was taken), then waits until it is usable.
   * @throws Error from stepError when it has no data directory, fails to start or is not usable in time.
   */
  async ensureRunning(node: ClusterNode): Promise<void> {
    const status = await pgCtlStatus(node.dataDir);
    if (status === "missing") {
      throw await stepError(
        `starting ${node.name}`,
        `no data directory at ${node.dataDir}; delete ${this.roster.dir} to rebuild`,
      );
    }
    if (status === "stopped") await this.startServer(node);
    await this.waitUsable(node);
  }

  private primaryConninfo(replica: ClusterNode): string {
    // pg_basebackup -R names every replica "walreceiver"; give each its own name in pg_stat_replication.
    return `'host=127.0.0.1 port=${this.roster.primary.port} user=postgres application_name=${replica.name}'`;
  }

  /** Config follows cluster.json: port (and, for replicas, the primary's address) before every start. */
  private async writeNodeConf(node: ClusterNode): Promise<void> {
    const settings: Record<string, string> = { port: String(node.port) };
    if (node.role === "replica")
      settings.primary_conninfo = this.primaryConninfo(node);
    await setConf(path.join(node.dataDir, "postgresql.auto.conf"), settings);
  }

  private async startServer(node: ClusterNode): Promise<void> {
    const logFile = path.join(node.dataDir, "server.log");
    for (let attempt = 1; ; attempt++) {
      if (!(await portIsFree(node.port))) await this.movePort(node);
      await this.writeNodeConf(node);
      this.log(`${node.name}: pg_ctl start on port ${node.port}`);
      const logSizeBefore = existsSync(logFile)
        ? (await stat(logFile)).size
        : 0;
      const res = await runPg(
        "pg_ctl",
        ["start", "-w", "-t", "60", "-D", node.dataDir, "-l", logFile],
        90_000,
      );
      if (res.code === 0) return;
      // Another process may grab the port between our probe and the server's bind; retry elsewhere.
      const newLines = (await readFile(logFile, "utf8").catch(() => "")).slice(
        logSizeBefore,
      );
      if (attempt >= 3 || !newLines.includes("Address already in use")) {
        throw await stepError(
          `starting ${node.name}`,
          `pg_ctl exited ${res.code}: ${res.stderr || res.stdout}`,
          node,
        );
      }
      await this.movePort(node);
    }
  }

  /** Gives `node` a new free port; a moved primary also re-points every replica at it. */
  private async movePort(node: ClusterNode): Promise<void> {
    const old = node.port;
    this.roster.setPort(node, await freePort());
    this.log(`${node.name}: port ${old} is taken, moving to ${node.port}`);
    if (node === this.roster.primary) {
      for (const replica of this.roster.replicas) {
        await this.writeNodeConf(replica);
        // primary_conninfo is reloadable (PostgreSQL 13+): a running replica reconnects to the new port.
        if ((await pgCtlStatus(replica.dataDir)) === "running")
          await runPg("pg_ctl", ["reload", "-D", replica.dataDir]);
      }
    }
    if (this.roster.recorded(node)) await this.roster.save();
  }

  /** SELECT 1 works; replicas are in recovery and, with the primary up, listed as streaming. */
  private async waitUsable(node: ClusterNode): Promise<void> {
    await waitUntil(
      `waiting for ${node.name} to accept connections`,
      node,
      SQL_READY_TIMEOUT_MS,
      async () => {
        await query(adminUrl(node), "SELECT 1");
        return true;
      },
    );
    if (node.role !== "replica") return;
    const primary = this.roster.primary;
    await waitUntil(
      `waiting for ${node.name} to stream from ${primary.name}`,
      node,
      STREAMING_TIMEOUT_MS,
      async () => {
        const [row] = await query<{ r: boolean }>(
          adminUrl(node),
          "SELECT pg_is_in_recovery() AS r",
        );
        if (!row?.r) throw new Error(`${node.name} is not in recovery`);
        // With the primary down (a test may stop it on purpose), being a hot standby is all we can wait for.
        if ((await pgCtlStatus(primary.dataDir)) !== "running") return true;
        const rows = await query(
          adminUrl(primary),
          "SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
          [node.name],
        );
        return rows.length > 0;
      },
    );
  }
}

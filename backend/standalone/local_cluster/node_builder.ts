/**
 * Building nodes that cluster.json does not record yet: the primary (initdb)
 * with the cluster's database, and streaming replicas (pg_basebackup -R, one
 * physical replication slot each). A node is recorded only once it runs; a
 * failed replica leaves neither a data directory nor a slot behind.
 */
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ClusterNode } from "./cluster_types";
import { type ClusterRoster, validateName } from "./cluster_roster";
import { makeDataDir, PG_HBA, SERVER_SETTINGS, setConf } from "./data_dir";
import { adminUrl, query } from "./node_query";
import type { NodeStarter } from "./node_starter";
import { mustRun, pgCtlStop } from "./pg_ctl";
import { freePort } from "./ports";

/** Builds, starts and records the nodes of one roster. */
export class NodeBuilder {
  constructor(
    private readonly roster: ClusterRoster,
    private readonly starter: NodeStarter,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * initdb, configure, start and record the primary.
   * @throws Error from stepError naming the failed step.
   */
  async createPrimary(): Promise<void> {
    const node = this.roster.primary;
    this.log(`${node.name}: initdb in ${node.dataDir}`);
    await makeDataDir(node.dataDir);
    const initdbArgs = [
      "-D",
      node.dataDir,
      "--auth=trust",
      "-U",
      "postgres",
      "--encoding=UTF8",
      "--locale=C",
    ];
    await mustRun(
      `initdb of ${node.name}`,
      "initdb",
      [...initdbArgs, "--no-sync"],
      undefined,
      300_000,
    );
    await setConf(path.join(node.dataDir, "postgresql.conf"), SERVER_SETTINGS);
    await writeFile(path.join(node.dataDir, "pg_hba.conf"), PG_HBA);
    this.roster.setPort(node, await freePort());
    try {
      await this.starter.ensureRunning(node);
    } catch (err) {
      // Not yet in cluster.json, so stopLocalCluster would not know to stop it.
      await pgCtlStop(node, "immediate").catch(() => {});
      throw err;
    }
    await this.roster.save();
  }

  /** CREATE DATABASE on the running primary unless it exists. */
  async ensureDatabase(): Promise<void> {
    const { primary, database } = this.roster;
    const primaryAdminUrl = adminUrl(primary);
    const exists = await query(
      primaryAdminUrl,
      "SELECT 1 FROM pg_database WHERE datname = $1",
      [database],
    );
    if (exists.length > 0) return;
    this.log(`${primary.name}: CREATE DATABASE ${database}`);
    // The name is validated against NAME_PATTERN, so it is a safe bare identifier.
    await query(primaryAdminUrl, `CREATE DATABASE ${database}`);
  }

  /**
   * Base-backs-up, starts and records a new streaming replica called `name`.
   * @throws Error for a bad or taken name, or from stepError naming the failed step.
   */
  async createReplica(name: string): Promise<ClusterNode> {
    validateName("replica name", name);
    if (this.roster.has(name))
      throw new Error(`local cluster: node "${name}" already exists`);
    const { primary, replicas } = this.roster;
    const node = this.roster.toNode(name, "replica", await freePort());
    const primaryAdminUrl = adminUrl(primary);
    try {
      // A leftover of a failed attempt may still run on its data dir.
      await pgCtlStop(node, "immediate");
      await makeDataDir(node.dataDir);
      // A physical slot per replica keeps WAL for it while it is stopped or paused.
      await query(
        primaryAdminUrl,
        "SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS " +
          "(SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
        [name],
      );
      this.log(`${name}: pg_basebackup from ${primary.name}`);
      await mustRun(
        `pg_basebackup of ${name}`,
        "pg_basebackup",
        [
          ...[
            "-h",
            "127.0.0.1",
            "-p",
            String(primary.port),
            "-U",
            "postgres",
            "-w",
          ],
          ...[
            "-D",
            node.dataDir,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-S",
            name,
            "--no-sync",
          ],
        ],
        primary,
        300_000,
      );
      // The backup copied the primary's server.log; a replica's log should only hold its own lines.
      const logFile = path.join(node.dataDir, "server.log");
      if (existsSync(logFile)) await writeFile(logFile, "");
      replicas.push(node);
      await this.starter.ensureRunning(node);
      await this.roster.save();
      return node;
    } catch (err) {
      const index = replicas.indexOf(node);
      if (index >= 0) replicas.splice(index, 1);
      await pgCtlStop(node, "immediate").catch(() => {});
      await rm(node.dataDir, { recursive: true, force: true }).catch(() => {});
      await query(
        primaryAdminUrl,
        "SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
        [name],
      ).catch(() => {});
      throw err;
    }
  }
}

/**
 * What a node's server finds on disk: its folders (owned by the postgres
 * user when we are root) and the settings written into its config files.
 */
import { existsSync } from "node:fs";
import {
  chmod,
  chown,
  mkdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { postgresIds, runningAsRoot } from "./pg_binaries";

/** Written to every node's postgresql.conf; replicas inherit them through the base backup. */
export const SERVER_SETTINGS: Record<string, string> = {
  listen_addresses: "'127.0.0.1'",
  // No Unix socket: avoids socket path length and permission trouble; pg_ctl -w reads postmaster.pid.
  unix_socket_directories: "''",
  wal_level: "replica",
  max_wal_senders: "16",
  max_replication_slots: "16",
  hot_standby: "on",
  hot_standby_feedback: "on",
  wal_keep_size: "'512MB'",
  max_connections: "300",
  // Throwaway test clusters: durability is not worth the time.
  fsync: "off",
  full_page_writes: "off",
  logging_collector: "off",
  shared_buffers: "'64MB'",
};

/** The primary's pg_hba.conf; replicas inherit it through the base backup. */
export const PG_HBA = [
  "# written by backend/standalone/local_cluster: trust on loopback only, no passwords",
  "host all all 127.0.0.1/32 trust",
  "host replication all 127.0.0.1/32 trust",
  "",
].join("\n");

/** Rewrites `key = value` lines of a config file (drops earlier settings of the same keys, appends). */
export async function setConf(
  file: string,
  settings: Record<string, string>,
): Promise<void> {
  const keys = Object.keys(settings);
  const kept = (await readFile(file, "utf8"))
    .split("\n")
    .filter(
      (line) => !keys.some((key) => new RegExp(`^\\s*${key}\\s*=`).test(line)),
    );
  while (kept.length > 0 && kept[kept.length - 1] === "") kept.pop();
  const added = Object.entries(settings).map(
    ([key, value]) => `${key} = ${value}`,
  );
  // Writing an existing file keeps its owner (postgres) when we are root.
  await writeFile(file, [...kept, ...added, ""].join("\n"));
}

/**
 * Creates `dir` (0755 for what we create) and, as root, lets the postgres user into it. Whether
 * postgres can reach it at all is cluster_location.ts's question, asked before.
 */
export async function prepareClusterDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d, { recursive: true });
    await chmod(d, 0o755);
  }
  if (!runningAsRoot()) return;
  const own = await stat(dir);
  if ((own.mode & 0o001) === 0) await chmod(dir, (own.mode & 0o777) | 0o011); // e.g. a mkdtemp folder
}

/** An empty 0700 data directory (owned by postgres when we are root), replacing whatever was there. */
export async function makeDataDir(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { mode: 0o700 });
  if (runningAsRoot()) {
    const { uid, gid } = postgresIds();
    await chown(dataDir, uid, gid);
  }
  await chmod(dataDir, 0o700);
}

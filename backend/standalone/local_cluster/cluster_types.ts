/**
 * The public shapes of a local cluster: its nodes, the handle that
 * startLocalCluster returns, and that function's options.
 */

/** One PostgreSQL server of a local cluster. */
export interface ClusterNode {
  /** "primary", "replica_1", "replica_2", ... */
  name: string;
  role: "primary" | "replica";
  port: number;
  dataDir: string;
  /** postgres://postgres@127.0.0.1:<port>/<database> (trust auth on loopback, no password) */
  url: string;
}

/** A running (or stopped) local primary with its streaming replicas. */
export interface LocalCluster {
  /**
   * The real path of the folder holding cluster.json and the node data dirs: the requested dir,
   * or, as root when the postgres user cannot reach that, the folder it is a symlink to.
   */
  dir: string;
  database: string;
  primary: ClusterNode;
  replicas: ClusterNode[];
  /** pg_ctl stop -m <mode> (default "fast") of one node, by name; harmless if already stopped. */
  stopNode(name: string, mode?: "fast" | "immediate"): Promise<void>;
  /** start a stopped node again (same port/data dir); waits until it accepts connections. */
  startNode(name: string): Promise<void>;
  /** create one more streaming replica of this primary (pg_basebackup -R), start it, return it. */
  addReplica(name?: string): Promise<ClusterNode>;
  /** stop every node (fast); idempotent. Leaves no postgres process of this cluster behind. */
  stop(): Promise<void>;
  /** stop() then delete the folder (and the requested path's symlink to it, if any). */
  destroy(): Promise<void>;
}

/** Options of startLocalCluster. */
export interface StartClusterOptions {
  /**
   * The cluster's own folder; created if missing. As root, when the postgres user cannot reach
   * it, the data goes to a folder it can reach and this path becomes a symlink to it.
   */
  dir: string;
  /** Replicas wanted; default 2. Missing ones are created, extra recorded ones are kept. */
  replicas?: number;
  /** Database created on the primary; default "app" (or the one recorded in `dir`). */
  database?: string;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

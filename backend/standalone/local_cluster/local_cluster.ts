/**
 * A local PostgreSQL primary with streaming replicas, built from the system's
 * own server binaries (no Docker), for the standalone mode and the
 * integration tests.
 *
 * Layout of a cluster folder: `<dir>/cluster.json` (database, node names and
 * ports; the source of truth for restarts) and one data directory per node,
 * `<dir>/<name>`, each logging to `<dir>/<name>/server.log`. A node is written
 * to cluster.json only once it is fully built, so a data directory that the
 * state file does not list is a leftover of a failed attempt and is rebuilt.
 *
 * PostgreSQL refuses to run as root, so as root every server binary runs as
 * the `postgres` OS user through `runuser`, and data directories belong to it.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import {
  chmod,
  chown,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import pg from "pg";

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
  /** stop() then delete the directory. */
  destroy(): Promise<void>;
}

/** Options of {@link startLocalCluster}. */
export interface StartClusterOptions {
  /** The cluster's own folder; created if missing. */
  dir: string;
  /** Replicas wanted; default 2. Missing ones are created, extra recorded ones are kept. */
  replicas?: number;
  /** Database created on the primary; default "app" (or the one recorded in `dir`). */
  database?: string;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

const NAME_PATTERN = /^[a-z_][a-z0-9_]*$/;
const STATE_FILE = "cluster.json";
const LOG_TAIL_LINES = 20;
const SQL_READY_TIMEOUT_MS = 10_000;
const STREAMING_TIMEOUT_MS = 15_000;

/** Written to every node's postgresql.conf; replicas inherit them through the base backup. */
const SERVER_SETTINGS: Record<string, string> = {
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

const PG_HBA = [
  "# written by scripts/local_cluster.ts: trust on loopback only, no passwords",
  "host all all 127.0.0.1/32 trust",
  "host replication all 127.0.0.1/32 trust",
  "",
].join("\n");

interface NodeState {
  name: string;
  role: "primary" | "replica";
  port: number;
}

interface ClusterState {
  version: 1;
  database: string;
  nodes: NodeState[];
}

let binDirCache: string | undefined;

/**
 * The directory holding initdb/pg_ctl/pg_basebackup: `pg_config --bindir`,
 * else the newest /usr/lib/postgresql/<v>/bin.
 * @throws Error naming the package to install when neither has initdb.
 */
export function findPgBinDir(): string {
  if (binDirCache) return binDirCache;
  const candidates: string[] = [];
  try {
    candidates.push(
      execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim(),
    );
  } catch {
    // No pg_config on PATH (it comes with libpq-dev/postgresql); fall back to Debian's layout.
  }
  const debianRoot = "/usr/lib/postgresql";
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(debianRoot, v, "bin")));
  }
  // pg_config from libpq-dev alone points at a bindir without the server tools.
  const found = candidates.find((dir) => existsSync(path.join(dir, "initdb")));
  if (!found) {
    throw new Error(
      "PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found via `pg_config --bindir` " +
        "or /usr/lib/postgresql/<version>/bin; install the server, e.g. `apt-get install postgresql`",
    );
  }
  binDirCache = found;
  return found;
}

const runningAsRoot = (): boolean => process.getuid?.() === 0;

let postgresIdsCache: { uid: number; gid: number } | undefined;
function postgresIds(): { uid: number; gid: number } {
  if (postgresIdsCache) return postgresIdsCache;
  try {
    const id = (flag: string) =>
      Number(
        execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim(),
      );
    postgresIdsCache = { uid: id("-u"), gid: id("-g") };
    return postgresIdsCache;
  } catch (cause) {
    throw new Error(
      "running as root needs the 'postgres' OS user (created by the postgresql package)",
      { cause },
    );
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a server binary (as `postgres` when we are root); resolves with its exit code, never rejects on one. */
function runPg(
  bin: string,
  args: string[],
  timeoutMs = 120_000,
): Promise<RunResult> {
  const exe = path.join(findPgBinDir(), bin);
  const [file, argv]: [string, string[]] = runningAsRoot()
    ? ["runuser", ["-u", "postgres", "--", exe, ...args]]
    : [exe, args];
  // PG* variables (PGPORT, PGDATA, PGOPTIONS...) from the caller's shell must not steer our servers.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("PG")),
  );
  return new Promise((resolve, reject) => {
    // cwd "/": the postgres user may not be allowed into the caller's cwd (e.g. /root).
    execFile(
      file,
      argv,
      { cwd: "/", env, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          const why = err.killed
            ? `timed out after ${timeoutMs} ms`
            : err.message;
          reject(
            new Error(`local cluster: ${bin} ${args[0] ?? ""}: ${why}`, {
              cause: err,
            }),
          );
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      },
    );
  });
}

async function logTail(logFile: string): Promise<string> {
  try {
    const lines = (await readFile(logFile, "utf8")).trimEnd().split("\n");
    return lines.slice(-LOG_TAIL_LINES).join("\n");
  } catch {
    return "(no server log)";
  }
}

/** An error naming the failed step, with the tail of the node's server log when there is one. */
async function stepError(
  step: string,
  detail: string,
  node?: ClusterNode,
): Promise<Error> {
  let message = `local cluster: ${step} failed: ${detail.trim()}`;
  if (node) {
    const logFile = path.join(node.dataDir, "server.log");
    message += `\n--- last ${LOG_TAIL_LINES} lines of ${logFile} ---\n${await logTail(logFile)}`;
  }
  return new Error(message);
}

async function mustRun(
  step: string,
  bin: string,
  args: string[],
  node?: ClusterNode,
  timeoutMs?: number,
) {
  const res = await runPg(bin, args, timeoutMs);
  if (res.code !== 0)
    throw await stepError(
      step,
      `${bin} exited ${res.code}: ${res.stderr || res.stdout}`,
      node,
    );
  return res;
}

function validateName(kind: string, name: string): void {
  if (!NAME_PATTERN.test(name))
    throw new Error(
      `local cluster: ${kind} "${name}" must match ${NAME_PATTERN}`,
    );
}

/** A loopback port that was free a moment ago (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen({ host: "127.0.0.1", port }, () =>
      server.close(() => resolve(true)),
    );
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function query<T = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: 2_000,
  });
  client.on("error", () => {}); // a server stopping under us must not crash the process
  try {
    await client.connect();
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end().catch(() => {});
  }
}

/** Polls `check` until it returns true; throws the step error with the last failure after `timeoutMs`. */
async function waitUntil(
  step: string,
  node: ClusterNode,
  timeoutMs: number,
  check: () => Promise<boolean>,
) {
  const deadline = Date.now() + timeoutMs;
  let last = "condition not met";
  for (;;) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline)
      throw await stepError(
        step,
        `not ready after ${timeoutMs} ms (${last})`,
        node,
      );
    await sleep(100);
  }
}

/** Rewrites `key = value` lines of a config file (drops earlier settings of the same keys, appends). */
async function setConf(
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

/** Creates `dir` (0755 for what we create) and, as root, makes sure the postgres user can traverse to it. */
async function prepareClusterDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d, { recursive: true });
    await chmod(d, 0o755);
  }
  if (!runningAsRoot()) return;
  const own = await stat(dir);
  if ((own.mode & 0o001) === 0) await chmod(dir, (own.mode & 0o777) | 0o011); // e.g. a mkdtemp folder
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if (((await stat(d)).mode & 0o001) === 0) {
      throw new Error(
        `local cluster: the postgres user cannot traverse ${d}; chmod o+x it or pick another dir`,
      );
    }
    if (d === path.dirname(d)) break;
  }
}

async function makeDataDir(dataDir: string): Promise<void> {
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { mode: 0o700 });
  if (runningAsRoot()) {
    const { uid, gid } = postgresIds();
    await chown(dataDir, uid, gid);
  }
  await chmod(dataDir, 0o700);
}

async function readState(dir: string): Promise<ClusterState | null> {
  let text: string;
  try {
    text = await readFile(path.join(dir, STATE_FILE), "utf8");
  } catch {
    return null;
  }
  const state = JSON.parse(text) as ClusterState;
  const valid =
    state.version === 1 &&
    NAME_PATTERN.test(state.database) &&
    Array.isArray(state.nodes) &&
    state.nodes.every(
      (n) => NAME_PATTERN.test(n.name) && Number.isInteger(n.port),
    ) &&
    state.nodes[0]?.role === "primary";
  if (!valid)
    throw new Error(
      `local cluster: ${path.join(dir, STATE_FILE)} is malformed; delete ${dir} to rebuild`,
    );
  return state;
}

type PgCtlStatus = "running" | "stopped" | "missing";

async function pgCtlStatus(dataDir: string): Promise<PgCtlStatus> {
  if (!existsSync(path.join(dataDir, "PG_VERSION"))) return "missing";
  const { code } = await runPg("pg_ctl", ["status", "-D", dataDir]);
  // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
  return code === 0 ? "running" : code === 3 ? "stopped" : "missing";
}

/** pg_ctl stop in `mode`, falling back to immediate; no-op for a stopped or missing node. */
async function pgCtlStop(
  node: ClusterNode,
  mode: "fast" | "immediate",
): Promise<void> {
  for (const m of mode === "fast"
    ? (["fast", "immediate"] as const)
    : (["immediate"] as const)) {
    if ((await pgCtlStatus(node.dataDir)) !== "running") return;
    const res = await runPg(
      "pg_ctl",
      ["stop", "-w", "-t", "60", "-m", m, "-D", node.dataDir],
      90_000,
    );
    if (res.code === 0) return;
  }
  if ((await pgCtlStatus(node.dataDir)) === "running") {
    throw await stepError(
      `stopping ${node.name}`,
      "pg_ctl stop -m immediate did not stop it",
      node,
    );
  }
}

class Cluster implements LocalCluster {
  readonly primary: ClusterNode;
  readonly replicas: ClusterNode[] = [];
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly state: ClusterState,
    private readonly log: (line: string) => void,
  ) {
    const [primary, ...replicas] = state.nodes.map((n) =>
      this.toNode(n.name, n.role, n.port),
    );
    this.primary = primary ?? this.toNode("primary", "primary", 0);
    this.replicas.push(...replicas);
  }

  get database(): string {
    return this.state.database;
  }

  stopNode(name: string, mode: "fast" | "immediate" = "fast"): Promise<void> {
    return this.exclusive(() => pgCtlStop(this.node(name), mode));
  }

  startNode(name: string): Promise<void> {
    return this.exclusive(() => this.ensureRunning(this.node(name)));
  }

  addReplica(name?: string): Promise<ClusterNode> {
    return this.exclusive(() =>
      this.createReplica(name ?? this.nextReplicaName()),
    );
  }

  stop(): Promise<void> {
    return this.exclusive(async () => {
      const errors: unknown[] = [];
      // Replicas first, so none logs a lost primary or keeps the primary waiting on its WAL sender.
      for (const node of [...this.replicas].reverse().concat(this.primary)) {
        await pgCtlStop(node, "fast").catch((err: unknown) => errors.push(err));
      }
      if (errors.length > 0) throw errors[0];
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Builds what is missing and starts what is stopped, until `replicas` replicas stream. */
  bringUp(replicas: number): Promise<void> {
    return this.exclusive(async () => {
      if (!this.recorded(this.primary)) await this.createPrimary();
      else await this.ensureRunning(this.primary);
      await this.ensureDatabase();
      for (const replica of this.replicas) await this.ensureRunning(replica);
      while (this.replicas.length < replicas)
        await this.createReplica(this.nextReplicaName());
    });
  }

  /** Runs cluster operations one at a time, so cluster.json is never written by two at once. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => {});
    return result;
  }

  private toNode(
    name: string,
    role: "primary" | "replica",
    port: number,
  ): ClusterNode {
    const node: ClusterNode = {
      name,
      role,
      port,
      dataDir: path.join(this.dir, name),
      url: "",
    };
    this.setPort(node, port);
    return node;
  }

  private setPort(node: ClusterNode, port: number): void {
    node.port = port;
    node.url = `postgres://postgres@127.0.0.1:${port}/${this.state.database}`;
  }

  private node(name: string): ClusterNode {
    const node = [this.primary, ...this.replicas].find((n) => n.name === name);
    if (!node || !this.recorded(node))
      throw new Error(`local cluster: no node "${name}" in ${this.dir}`);
    return node;
  }

  private recorded(node: ClusterNode): boolean {
    return this.state.nodes.some((n) => n.name === node.name);
  }

  private nextReplicaName(): string {
    for (let i = 1; ; i++)
      if (!this.state.nodes.some((n) => n.name === `replica_${i}`))
        return `replica_${i}`;
  }

  private async save(): Promise<void> {
    this.state.nodes = [this.primary, ...this.replicas].map(
      ({ name, role, port }) => ({ name, role, port }),
    );
    const file = path.join(this.dir, STATE_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(this.state, null, 2) + "\n");
    await rename(`${file}.tmp`, file);
  }

  private primaryConninfo(replica: ClusterNode): string {
    // pg_basebackup -R names every replica "walreceiver"; give each its own name in pg_stat_replication.
    return `'host=127.0.0.1 port=${this.primary.port} user=postgres application_name=${replica.name}'`;
  }

  /** Config follows cluster.json: port (and, for replicas, the primary's address) before every start. */
  private async writeNodeConf(node: ClusterNode): Promise<void> {
    const settings: Record<string, string> = { port: String(node.port) };
    if (node.role === "replica")
      settings.primary_conninfo = this.primaryConninfo(node);
    await setConf(path.join(node.dataDir, "postgresql.auto.conf"), settings);
  }

  private async createPrimary(): Promise<void> {
    const node = this.primary;
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
    this.setPort(node, await freePort());
    try {
      await this.ensureRunning(node);
    } catch (err) {
      // Not yet in cluster.json, so stopLocalCluster would not know to stop it.
      await pgCtlStop(node, "immediate").catch(() => {});
      throw err;
    }
    await this.save();
  }

  private async ensureDatabase(): Promise<void> {
    const adminUrl = this.primary.url.replace(/\/[^/]*$/, "/postgres");
    const exists = await query(
      adminUrl,
      "SELECT 1 FROM pg_database WHERE datname = $1",
      [this.database],
    );
    if (exists.length > 0) return;
    this.log(`${this.primary.name}: CREATE DATABASE ${this.database}`);
    // The name is validated against NAME_PATTERN, so it is a safe bare identifier.
    await query(adminUrl, `CREATE DATABASE ${this.database}`);
  }

  private async createReplica(name: string): Promise<ClusterNode> {
    validateName("replica name", name);
    if (this.state.nodes.some((n) => n.name === name))
      throw new Error(`local cluster: node "${name}" already exists`);
    const node = this.toNode(name, "replica", await freePort());
    const adminUrl = this.primary.url.replace(/\/[^/]*$/, "/postgres");
    try {
      // A leftover of a failed attempt may still run on its data dir.
      await pgCtlStop(node, "immediate");
      await makeDataDir(node.dataDir);
      // A physical slot per replica keeps WAL for it while it is stopped or paused.
      await query(
        adminUrl,
        "SELECT pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS " +
          "(SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
        [name],
      );
      this.log(`${name}: pg_basebackup from ${this.primary.name}`);
      await mustRun(
        `pg_basebackup of ${name}`,
        "pg_basebackup",
        [
          ...[
            "-h",
            "127.0.0.1",
            "-p",
            String(this.primary.port),
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
        this.primary,
        300_000,
      );
      // The backup copied the primary's server.log; a replica's log should only hold its own lines.
      const logFile = path.join(node.dataDir, "server.log");
      if (existsSync(logFile)) await writeFile(logFile, "");
      this.replicas.push(node);
      await this.ensureRunning(node);
      await this.save();
      return node;
    } catch (err) {
      const index = this.replicas.indexOf(node);
      if (index >= 0) this.replicas.splice(index, 1);
      await pgCtlStop(node, "immediate").catch(() => {});
      await rm(node.dataDir, { recursive: true, force: true }).catch(() => {});
      await query(
        adminUrl,
        "SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
        [name],
      ).catch(() => {});
      throw err;
    }
  }

  /** Starts `node` if stopped (on a new port if its own was taken), then waits until it is usable. */
  private async ensureRunning(node: ClusterNode): Promise<void> {
    const status = await pgCtlStatus(node.dataDir);
    if (status === "missing") {
      throw await stepError(
        `starting ${node.name}`,
        `no data directory at ${node.dataDir}; delete ${this.dir} to rebuild`,
      );
    }
    if (status === "stopped") await this.startServer(node);
    await this.waitUsable(node);
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
    this.setPort(node, await freePort());
    this.log(`${node.name}: port ${old} is taken, moving to ${node.port}`);
    if (node === this.primary) {
      for (const replica of this.replicas) {
        await this.writeNodeConf(replica);
        // primary_conninfo is reloadable (PostgreSQL 13+): a running replica reconnects to the new port.
        if ((await pgCtlStatus(replica.dataDir)) === "running")
          await runPg("pg_ctl", ["reload", "-D", replica.dataDir]);
      }
    }
    if (this.recorded(node)) await this.save();
  }

  /** SELECT 1 works; replicas are in recovery and, with the primary up, listed as streaming. */
  private async waitUsable(node: ClusterNode): Promise<void> {
    await waitUntil(
      `waiting for ${node.name} to accept connections`,
      node,
      SQL_READY_TIMEOUT_MS,
      async () => {
        await query(node.url.replace(/\/[^/]*$/, "/postgres"), "SELECT 1");
        return true;
      },
    );
    if (node.role !== "replica") return;
    const adminUrl = (n: ClusterNode) => n.url.replace(/\/[^/]*$/, "/postgres");
    await waitUntil(
      `waiting for ${node.name} to stream from ${this.primary.name}`,
      node,
      STREAMING_TIMEOUT_MS,
      async () => {
        const [row] = await query<{ r: boolean }>(
          adminUrl(node),
          "SELECT pg_is_in_recovery() AS r",
        );
        if (!row?.r) throw new Error(`${node.name} is not in recovery`);
        // With the primary down (a test may stop it on purpose), being a hot standby is all we can wait for.
        if ((await pgCtlStatus(this.primary.dataDir)) !== "running")
          return true;
        const rows = await query(
          adminUrl(this.primary),
          "SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'",
          [node.name],
        );
        return rows.length > 0;
      },
    );
  }
}

const starting = new Map<string, Promise<LocalCluster>>();

/**
 * Creates (first time) or restarts (later) the cluster in `dir`; idempotent:
 * calling it while it runs returns the running cluster (same ports).
 * Waits until the primary accepts connections and every replica streams.
 * @throws Error naming the failed step, with the tail of the server log.
 */
export function startLocalCluster(
  opts: StartClusterOptions,
): Promise<LocalCluster> {
  const dir = path.resolve(opts.dir);
  // Concurrent calls in one process share one start instead of racing on the same data dirs.
  const pending = starting.get(dir);
  if (pending) return pending;
  const started = openCluster(dir, opts).finally(() => starting.delete(dir));
  starting.set(dir, started);
  return started;
}

async function openCluster(
  dir: string,
  opts: StartClusterOptions,
): Promise<Cluster> {
  const replicas = opts.replicas ?? 2;
  if (!Number.isInteger(replicas) || replicas < 0)
    throw new Error(`local cluster: replicas must be >= 0, got ${replicas}`);
  if (opts.database !== undefined) validateName("database name", opts.database);
  findPgBinDir(); // fail early with the install hint
  await prepareClusterDir(dir);
  const recorded = await readState(dir);
  if (
    recorded &&
    opts.database !== undefined &&
    recorded.database !== opts.database
  ) {
    throw new Error(
      `local cluster: ${dir} holds database "${recorded.database}", not "${opts.database}"`,
    );
  }
  const state = recorded ?? {
    version: 1 as const,
    database: opts.database ?? "app",
    nodes: [],
  };
  const cluster = new Cluster(dir, state, opts.log ?? (() => {}));
  await cluster.bringUp(replicas);
  return cluster;
}

/** Stops a cluster previously started in `dir` (reads its state file); no-op if none. */
export async function stopLocalCluster(dir: string): Promise<void> {
  const resolved = path.resolve(dir);
  const state = await readState(resolved);
  if (state) await new Cluster(resolved, state, () => {}).stop();
}

/**
 * The nodes recorded in `dir` and whether each server is running (pg_ctl status);
 * null when `dir` holds no cluster. Starts nothing.
 */
export async function localClusterStatus(
  dir: string,
): Promise<Array<ClusterNode & { running: boolean }> | null> {
  const resolved = path.resolve(dir);
  const state = await readState(resolved);
  if (!state) return null;
  const cluster = new Cluster(resolved, state, () => {});
  return Promise.all(
    [cluster.primary, ...cluster.replicas].map(async (n) => ({
      ...n,
      running: (await pgCtlStatus(n.dataDir)) === "running",
    })),
  );
}

/**
 * An independent (NOT a replica) single PostgreSQL server in `dir`, e.g. to
 * test that a misconfigured "replica" URL is detected. Its node is named
 * "primary"; its stop() stops it (delete `dir` afterwards to throw it away).
 * @throws Error if `dir` holds a cluster with replicas.
 */
export async function startIndependentServer(opts: {
  dir: string;
  database?: string;
}): Promise<ClusterNode & { stop(): Promise<void> }> {
  const state = await readState(path.resolve(opts.dir));
  if (state && state.nodes.length > 1)
    throw new Error(`local cluster: ${opts.dir} holds a cluster with replicas`);
  const cluster = await startLocalCluster({
    dir: opts.dir,
    database: opts.database,
    replicas: 0,
  });
  return { ...cluster.primary, stop: () => cluster.stop() };
}

/**
 * The nodes of a cluster as recorded in `<dir>/cluster.json` (database, node
 * names and ports; the source of truth for restarts). A node is written to
 * the file only once it is fully built, so a data directory that the file
 * does not list is a leftover of a failed attempt and is rebuilt.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { ClusterNode } from "./cluster_types";

const NAME_PATTERN = /^[a-z_][a-z0-9_]*$/;
const STATE_FILE = "cluster.json";

interface NodeState {
  name: string;
  role: "primary" | "replica";
  port: number;
}

/** The contents of cluster.json. */
export interface ClusterState {
  version: 1;
  database: string;
  nodes: NodeState[];
}

/**
 * Checks a database or node name, which is used as a bare SQL identifier and a folder name.
 * @throws Error naming `kind` when `name` does not match the pattern.
 */
export function validateName(kind: string, name: string): void {
  if (!NAME_PATTERN.test(name))
    throw new Error(
      `local cluster: ${kind} "${name}" must match ${NAME_PATTERN}`,
    );
}

/**
 * The state recorded in `dir`, or null when it holds no cluster.json.
 * @throws Error when the file is malformed.
 */
export async function readState(dir: string): Promise<ClusterState | null> {
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

/**
 * The primary and replicas of one cluster folder: their ports and URLs, and
 * which of them cluster.json records. Starts and builds nothing.
 */
export class ClusterRoster {
  readonly primary: ClusterNode;
  /** Mutated in place as replicas are built (or given up), never replaced. */
  readonly replicas: ClusterNode[] = [];

  constructor(
    readonly dir: string,
    private readonly state: ClusterState,
  ) {
    const [primary, ...replicas] = state.nodes.map((n) =>
      this.toNode(n.name, n.role, n.port),
    );
    this.primary = primary ?? this.toNode("primary", "primary", 0);
    this.replicas.push(...replicas);
  }

  /** The database created on the primary. */
  get database(): string {
    return this.state.database;
  }

  /** A node of this cluster's folder (not yet part of the roster). */
  toNode(name: string, role: "primary" | "replica", port: number): ClusterNode {
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

  /** Sets the node's port and the URL that names it. */
  setPort(node: ClusterNode, port: number): void {
    node.port = port;
    node.url = `postgres://postgres@127.0.0.1:${port}/${this.state.database}`;
  }

  /**
   * The recorded node called `name`.
   * @throws Error when cluster.json records no such node.
   */
  node(name: string): ClusterNode {
    const node = [this.primary, ...this.replicas].find((n) => n.name === name);
    if (!node || !this.recorded(node))
      throw new Error(`local cluster: no node "${name}" in ${this.dir}`);
    return node;
  }

  /** Whether cluster.json records a node of this name. */
  has(name: string): boolean {
    return this.state.nodes.some((n) => n.name === name);
  }

  /** Whether cluster.json records `node` (that is, it was fully built). */
  recorded(node: ClusterNode): boolean {
    return this.has(node.name);
  }

  /** The first free name of the form replica_<n>. */
  nextReplicaName(): string {
    for (let i = 1; ; i++) if (!this.has(`replica_${i}`)) return `replica_${i}`;
  }

  /** Records the primary and every replica in cluster.json (write, then rename). */
  async save(): Promise<void> {
    this.state.nodes = [this.primary, ...this.replicas].map(
      ({ name, role, port }) => ({ name, role, port }),
    );
    const file = path.join(this.dir, STATE_FILE);
    await writeFile(`${file}.tmp`, JSON.stringify(this.state, null, 2) + "\n");
    await rename(`${file}.tmp`, file);
  }
}

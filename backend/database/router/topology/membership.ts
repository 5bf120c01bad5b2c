import {
  InvalidArgumentError,
  NotFoundError,
  RouterClosedError,
} from "../base/errors";
import type { HealthChecker } from "../health/health_checker";
import type { LagMonitor } from "../lag/lag_monitor";
import type { DbNode } from "../nodes/db_node";
import type { ReplicaNode } from "../nodes/replica_node";
import type { NodeCluster } from "../nodes/node_cluster";
import type { ClusterDirectory } from "./cluster_directory";
import {
  runtimeReplicaUrlProblem,
  UNUSABLE_REPLICA,
  withConfiguredRootCert,
} from "../config/replica_url";
import type { Logger } from "../support/logger";
import { nodeLabel, type NodeFactory } from "./node_factory";

/** Where and how to add a replica at run time. */
export interface AddReplicaOptions {
  /** Cluster name; default the main cluster. */
  cluster?: string;
  /** Default `replica_<n>`, the next number not in use. */
  name?: string;
  weight?: number;
  /** Zone of the new replica; null/absent = unknown. */
  zone?: string | null;
}

/** What {@link FleetMembership} works with. */
export interface MembershipDeps {
  readonly directory: ClusterDirectory;
  readonly factory: NodeFactory;
  readonly health: HealthChecker;
  readonly lagMonitor: LagMonitor;
  /** REPLICA_HOST_ALLOWLIST; empty = any host. */
  readonly hostAllowlist: readonly string[];
  /** REPLICA_SSL_ROOT_CERT, given to run-time replicas as their sslrootcert. */
  readonly sslRootCert: string | null;
  /** Where the reason a replica was not added goes (callers get one coarse error). */
  readonly logger: Logger;
  isClosed(): boolean;
}

const NAME_RE = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Run-time changes to the replicas of a cluster (the admin API): a replica
 * joins only after a probe shows it is a replica of that cluster's primary,
 * and leaves at once, after its statements in flight drain.
 */
export class FleetMembership {
  /** Labels reserved while their probe runs, so two concurrent adds cannot both pass. */
  private readonly adding = new Set<string>();
  private readonly nextNumber = new Map<string, number>();

  constructor(private readonly deps: MembershipDeps) {
    for (const c of deps.directory.clusters)
      this.nextNumber.set(c.name, c.replicas.length + 1);
  }

  /**
   * Adds a replica. It serves only after a probe shows it is in recovery and
   * a replica of this cluster's primary.
   *
   * @throws {InvalidArgumentError} when it is unreachable or not a replica of this primary.
   */
  async addReplica(
    given: string,
    options: AddReplicaOptions = {},
  ): Promise<DbNode> {
    if (this.deps.isClosed()) throw new RouterClosedError();
    const problem = runtimeReplicaUrlProblem(given, this.deps.hostAllowlist);
    if (problem !== null) throw this.unusable(problem);
    const url = withConfiguredRootCert(given, this.deps.sslRootCert);
    const { directory } = this.deps;
    const cluster = directory.named(options.cluster ?? directory.main.name);
    const name = options.name ?? this.newReplicaName(cluster);
    if (!NAME_RE.test(name))
      throw new InvalidArgumentError(
        "name",
        "lower-case letters, digits and _",
      );
    const label = nodeLabel(cluster.name, name);
    if (cluster.nodes.some((n) => n.name === label) || this.adding.has(label))
      throw new InvalidArgumentError("name", `"${label}" already exists`);
    // Reserved across the probe's await, so two concurrent adds cannot both pass.
    this.adding.add(label);
    try {
      return await this.verifyAndAdd(
        cluster,
        name,
        url,
        options.weight ?? 1,
        options.zone ?? null,
      );
    } finally {
      this.adding.delete(label);
    }
  }

  /**
   * Takes a replica out of rotation at once, lets statements in flight finish
   * (up to `drainMs`), then closes its pool.
   */
  async removeReplica(
    name: string,
    options: { cluster?: string; drainMs?: number } = {},
  ): Promise<void> {
    const { directory } = this.deps;
    const cluster = directory.named(options.cluster ?? directory.main.name);
    const node = this.replicaNamed(cluster, name);
    node.disable();
    cluster.replicas = cluster.replicas.filter((n) => n !== node);
    cluster.refresh();
    // Wall time, not the injected clock: this really waits.
    const deadline = Date.now() + (options.drainMs ?? 10_000);
    while (node.inFlight > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    await node.pool.end();
  }

  /** The one error a caller gets for a replica that cannot be used; the reason goes to the log. */
  private unusable(reason: string): InvalidArgumentError {
    this.deps.logger.warn("replica not added", { reason });
    return new InvalidArgumentError("connectionString", UNUSABLE_REPLICA);
  }

  /** A replica of `cluster` by name. @throws {NotFoundError} */
  replicaNamed(cluster: NodeCluster, name: string): ReplicaNode {
    const label = nodeLabel(cluster.name, name);
    const node = cluster.replicas.find(
      (n) => n.name === name || n.name === label,
    );
    if (node === undefined)
      throw new NotFoundError(
        `no replica named "${name}" in cluster "${cluster.name}"`,
      );
    return node;
  }

  private async verifyAndAdd(
    cluster: NodeCluster,
    name: string,
    url: string,
    weight: number,
    zone: string | null,
  ): Promise<DbNode> {
    const node = this.deps.factory.buildReplica(
      cluster.name,
      name,
      url,
      weight,
    );
    node.zone = zone;
    await this.deps.health.checkNode(cluster, node);
    const snap = node.health.snapshot;
    if (snap.verdict !== "healthy" || this.deps.isClosed()) {
      await node.pool.end().catch(() => undefined);
      if (this.deps.isClosed()) throw new RouterClosedError();
      if (snap.verdict !== "not_a_replica")
        throw this.unusable(`unreachable: ${snap.lastError ?? "probe failed"}`);
      throw new InvalidArgumentError(
        "connectionString",
        snap.lastError ?? "not a replica of this primary",
      );
    }
    cluster.replicas = [...cluster.replicas, node];
    await this.deps.lagMonitor.sampleAll();
    cluster.refresh();
    return node;
  }

  private newReplicaName(cluster: NodeCluster): string {
    let n = this.nextNumber.get(cluster.name) ?? 1;
    while (
      cluster.replicas.some(
        (r) =>
          r.name === `replica_${n}` ||
          r.name === `${cluster.name}.replica_${n}`,
      )
    )
      n++;
    this.nextNumber.set(cluster.name, n + 1);
    return `replica_${n}`;
  }
}

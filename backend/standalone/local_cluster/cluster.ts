/**
 * The LocalCluster handle: runs its operations one at a time and composes
 * the roster (cluster.json), the starter (running nodes) and the builder
 * (new nodes).
 */
import type { ClusterNode, LocalCluster } from "./cluster_types";
import { type ClusterState, ClusterRoster } from "./cluster_roster";
import { NodeBuilder } from "./node_builder";
import { NodeStarter } from "./node_starter";
import { pgCtlStop } from "./pg_ctl";
import { removeClusterFolders } from "./relocation";

/**
 * A local primary with its streaming replicas, as recorded in `dir` (a real path); `link`, when
 * given, is the requested path that is a symlink to `dir` (see relocation.ts).
 */
export class Cluster implements LocalCluster {
  readonly primary: ClusterNode;
  readonly replicas: ClusterNode[];
  private readonly roster: ClusterRoster;
  private readonly starter: NodeStarter;
  private readonly builder: NodeBuilder;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    state: ClusterState,
    log: (line: string) => void,
    private readonly link: string | null = null,
  ) {
    this.roster = new ClusterRoster(dir, state);
    this.starter = new NodeStarter(this.roster, log);
    this.builder = new NodeBuilder(this.roster, this.starter, log);
    this.primary = this.roster.primary;
    // The roster's own array: replicas it builds later show up here too.
    this.replicas = this.roster.replicas;
  }

  get database(): string {
    return this.roster.database;
  }

  stopNode(name: string, mode: "fast" | "immediate" = "fast"): Promise<void> {
    return this.exclusive(() => pgCtlStop(this.roster.node(name), mode));
  }

  startNode(name: string): Promise<void> {
    return this.exclusive(() =>
      this.starter.ensureRunning(this.roster.node(name)),
    );
  }

  addReplica(name?: string): Promise<ClusterNode> {
    return this.exclusive(() =>
      this.builder.createReplica(name ?? this.roster.nextReplicaName()),
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
    await removeClusterFolders(this.dir, this.link);
  }

  /** Builds what is missing and starts what is stopped, until `replicas` replicas stream. */
  bringUp(replicas: number): Promise<void> {
    return this.exclusive(async () => {
      if (!this.roster.recorded(this.primary))
        await this.builder.createPrimary();
      else await this.starter.ensureRunning(this.primary);
      await this.builder.ensureDatabase();
      for (const replica of this.replicas)
        await this.starter.ensureRunning(replica);
      while (this.replicas.length < replicas)
        await this.builder.createReplica(this.roster.nextReplicaName());
    });
  }

  /** Runs cluster operations one at a time, so cluster.json is never written by two at once. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.catch(() => {});
    return result;
  }
}

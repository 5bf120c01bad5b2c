import {
  type DbNode,
  type ReplicaNode,
  describeAddress,
  describePgError,
  type Logger,
  type RouterRoles,
} from "../router/index";
import { keyText, type ControlEntry } from "./control_state";

/** How long a setting that failed to apply (an unreachable replica) waits before the next try. */
export const RETRY_MS = 5_000;

/**
 * Applies stored settings to this instance's router: each setting once per
 * stored version. Replicas are verified and added in the background (a probe
 * of an unreachable host can take DB_CONNECTION_TIMEOUT), so a replica this
 * instance cannot reach never holds up the other settings or an admin call;
 * it stays `pending` and is retried {@link RETRY_MS} after each failure.
 */
export class ControlApplier {
  /** Stored version of each key applied here. */
  private readonly applied = new Map<string, number>();
  /** Keys that failed to apply, with why and when to try again. */
  private readonly pending = new Map<
    string,
    { error: string; version: number; retryAtMs: number }
  >();
  /** Replica keys being verified and added in the background, with the version. */
  private readonly adding = new Map<string, number>();
  /**
   * The stored version whose add created each replica node here; absent for
   * a node from the environment. A node of another version is replaced, so
   * a replica removed and added again (perhaps elsewhere) is never kept in
   * its old form.
   */
  private readonly generation = new Map<string, number>();
  private readonly background = new Set<Promise<void>>();
  private closed = false;

  constructor(
    private readonly router: RouterRoles,
    private readonly logger: Logger,
    /** Called when a background add or removal ends: circuits of that replica may apply now. */
    private readonly onBackgroundDone: () => void,
    /** Versions this instance committed (logged as `admin: ...` already). */
    private readonly isOwn: (version: number) => boolean,
  ) {}

  /** Forgets what it knows of keys no longer stored. */
  retain(keys: ReadonlySet<string>): void {
    for (const map of [this.applied, this.pending])
      for (const k of [...map.keys()]) if (!keys.has(k)) map.delete(k);
  }

  /** Records that this instance added the replica of `key` itself, as stored at `version`. */
  ownReplica(key: string, version: number): void {
    this.generation.set(key, version);
  }

  /** Applies every entry not applied at its version; replicas first, so circuits find them. */
  async applyAll(entries: readonly ControlEntry[]): Promise<void> {
    const order = { replica: 0, circuit: 1, switch: 2 };
    const sorted = [...entries].sort((a, b) => order[a.kind] - order[b.kind]);
    const now = Date.now();
    for (const entry of sorted) {
      if (this.closed) return;
      const k = keyText(entry.key);
      if (this.applied.get(k) === entry.version) continue;
      const failed = this.pending.get(k);
      if (failed?.version === entry.version && failed.retryAtMs > now) continue;
      try {
        if (await this.apply(k, entry)) this.done(k, entry.version);
      } catch (err) {
        this.failed(k, entry.version, err);
      }
    }
  }

  /** Settings not applied yet, with why. */
  pendingList(): { key: string; error: string }[] {
    return [...this.pending].map(([key, p]) => ({ key, error: p.error }));
  }

  /** Resolves when the background adds and removals started so far have ended. */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  close(): void {
    this.closed = true;
  }

  /** Applies one setting; false when it is not applied yet (its replica is missing or being added). */
  private async apply(k: string, entry: ControlEntry): Promise<boolean> {
    const { router } = this;
    if (entry.kind === "switch") {
      const { enabled } = entry.value;
      switch (entry.key.kind) {
        case "reads":
          router.setReplicaReads(enabled);
          break;
        case "reads_endpoint":
          router.setEndpointReplicaReads(entry.key.endpoint, enabled);
          break;
        case "cache":
          // Awaited (bounded by CACHE_TIMEOUT): switching on resets the
          // shared tier's epochs first, and a switch off stored meanwhile
          // must not be overtaken by it.
          if (router.cacheEnabled !== enabled) await router.setCache(enabled);
          break;
        case "cache_endpoint":
          router.setEndpointCache(entry.key.endpoint, enabled);
          break;
      }
      return true;
    }
    const node = this.replica(entry.key.cluster, entry.key.name);
    if (entry.kind === "circuit") {
      if (
        node === null ||
        this.adding.has(keyText({ ...entry.key, kind: "replica" }))
      )
        return false;
      router.setCircuit(
        node,
        entry.value.open,
        entry.value.open ? "opened by an admin" : "closed by an admin",
      );
      return true;
    }
    // One add of a key at a time: a newer setting of it waits for the
    // background add to end (which applies everything again).
    if (this.adding.has(k)) return false;
    if (!entry.value.present) {
      if (node !== null) this.remove(entry.key.cluster, node);
      this.generation.delete(k);
      return true;
    }
    if (node !== null) {
      const gen = this.generation.get(k);
      if (gen === entry.version) return true;
      // A node from the environment at the stored address, with no breaker
      // forced open, is that replica already: adopt it rather than churn.
      const forcedOpen =
        node.breaker?.state.name === "open" && node.breaker.state.manual;
      if (
        gen === undefined &&
        !forcedOpen &&
        node.address === describeAddress(entry.connectionString!)
      ) {
        this.generation.set(k, entry.version);
        return true;
      }
      this.remove(entry.key.cluster, node);
    }
    this.add(k, entry);
    return false;
  }

  private add(k: string, entry: ControlEntry & { kind: "replica" }): void {
    this.adding.set(k, entry.version);
    this.inBackground(
      this.router
        .addReplica(entry.connectionString!, {
          cluster: entry.key.cluster,
          name: entry.key.name,
          ...(entry.value.weight !== undefined
            ? { weight: entry.value.weight }
            : {}),
          zone: entry.value.zone ?? null,
        })
        .then(
          () => {
            this.generation.set(k, entry.version);
            this.done(k, entry.version);
          },
          (err: unknown) => this.failed(k, entry.version, err),
        )
        .finally(() => this.adding.delete(k)),
    );
  }

  /** Out of rotation at once; the drain of its statements in flight goes on in the background. */
  private remove(cluster: string, node: DbNode): void {
    this.inBackground(
      this.router.removeReplica(node.name, { cluster }).catch((err: unknown) =>
        this.logger.warn("fleet control: replica removal failed", {
          node: node.name,
          error: describePgError(err),
        }),
      ),
    );
  }

  private inBackground(work: Promise<unknown>): void {
    const p: Promise<void> = work
      .then(
        () => undefined,
        (err: unknown) =>
          this.logger.warn("fleet control: background step failed", {
            error: describePgError(err),
          }),
      )
      .finally(() => {
        this.background.delete(p);
        if (!this.closed) this.onBackgroundDone();
      });
    this.background.add(p);
  }

  private done(k: string, version: number): void {
    this.applied.set(k, version);
    this.pending.delete(k);
    // Changes made here were logged as "admin: ..." when committed.
    if (!this.isOwn(version))
      this.logger.info("fleet control: setting applied from the store", {
        key: k,
        version,
      });
  }

  private failed(k: string, version: number, err: unknown): void {
    const error = describePgError(err);
    if (this.pending.get(k)?.version !== version)
      this.logger.warn("fleet control: setting not applied yet", {
        key: k,
        error,
      });
    // From the end of the attempt: a probe may have taken long.
    this.pending.set(k, { error, version, retryAtMs: Date.now() + RETRY_MS });
  }

  private replica(clusterName: string, name: string): ReplicaNode | null {
    const cluster = this.router.clusters.find((c) => c.name === clusterName);
    if (cluster === undefined) return null;
    return (
      cluster.replicas.find((n) => shortName(cluster.name, n.name) === name) ??
      null
    );
  }
}

/** A node's name within its cluster: `shard_b.replica_1` → `replica_1`. */
export function shortName(cluster: string, label: string): string {
  return label.startsWith(`${cluster}.`)
    ? label.slice(cluster.length + 1)
    : label;
}

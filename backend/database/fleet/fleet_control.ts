import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { FleetConfig } from "../router/config/config";
import { RouterError } from "../router/errors";
import type { AddReplicaOptions } from "../router/fleet/membership";
import type { DbNode } from "../router/nodes/db_node";
import { describePgError } from "../router/nodes/pg_errors";
import { describeAddress } from "../router/nodes/pg_pool";
import type { NodeCluster } from "../router/nodes/node_cluster";
import type { ReplicaRouter } from "../router/replica_router";
import type { Logger } from "../router/support/logger";
import { PeriodicTasks } from "../router/support/periodic_tasks";
import { withTimeout } from "../router/support/timeout";
import { nodeStatus } from "../monitoring_handlers";
import { keyText, parseEntry, type ControlEntry } from "./control_state";
import type { AuditEntry, ControlChange, ControlStore } from "./control_store";
import {
  buildFleetView,
  type ControlStatus,
  type FleetViewResponse,
  type InstanceView,
} from "./fleet_view";

/**
 * The control store cannot be reached (or lacks its tables): the change was
 * made on no instance. 503.
 */
export class ControlStoreUnavailableError extends RouterError {
  constructor(why: string, options?: { cause?: unknown }) {
    super(
      "unavailable",
      `the fleet's control store (the main cluster's primary) is unavailable, so the change was made on no instance; retry when it is back (${why})`,
      options,
    );
  }
}

/** What {@link FleetControl} needs. */
export interface FleetControlOptions {
  readonly router: ReplicaRouter;
  readonly store: ControlStore;
  readonly config: FleetConfig;
  readonly logger: Logger;
  /** Reported in the heartbeat: the build or package version. */
  readonly serviceVersion: string;
}

/** How long a setting that failed to apply (an unreachable replica) waits before the next try. */
const RETRY_MS = 5_000;
/** Heartbeats older than this are deleted. */
const PRUNE_AFTER_MS = 3_600_000;

/**
 * One instance's member of the fleet control plane. Admin changes go
 * through {@link change} (or {@link addReplica}): stored on the primary in
 * one transaction with an audit row, then applied here before the call
 * returns. Every instance loads the stored state at start, reloads when a
 * NOTIFY announces a new version or the periodic version check sees one,
 * and applies each setting it has not applied yet. While the store is
 * unreachable an instance keeps what it last applied, and changes are
 * refused with {@link ControlStoreUnavailableError}.
 */
export class FleetControl {
  readonly instanceId: string;
  private readonly startedAt = new Date();
  private readonly tasks: PeriodicTasks;
  private entries: ControlEntry[] = [];
  private loadedVersion: number | null = null;
  /** Stored version of each key this instance has applied. */
  private readonly applied = new Map<string, number>();
  /** Keys that failed to apply, with why and when to try again. */
  private readonly pending = new Map<
    string,
    { error: string; version: number; retryAtMs: number }
  >();
  private lock: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  private subscribing = false;
  private reachable = true;
  private reloadQueued = false;
  private readonly removals = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly o: FleetControlOptions) {
    this.instanceId =
      o.config.instanceId ??
      `${hostname().slice(0, 60)}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.tasks = new PeriodicTasks(o.logger, describePgError);
  }

  /**
   * Loads and applies the stored state (when the store answers; otherwise
   * this instance starts from its environment and catches up later), then
   * starts listening, polling and heart-beating.
   */
  async start(): Promise<void> {
    try {
      await this.reload();
    } catch (err) {
      this.unreachable(err, "control state not loaded at start");
    }
    await this.ensureSubscribed();
    this.tasks.every(this.o.config.pollIntervalMs, () => this.tick());
    this.tasks.every(this.o.config.heartbeatIntervalMs, () => this.beat());
    void this.beat();
  }

  /** Stops following the store, removes this instance's heartbeat, closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    this.unsubscribe?.();
    this.unsubscribe = null;
    // Bounded: a stop must not wait on a primary that is down.
    await withTimeout(
      this.o.store.leave(this.instanceId, PRUNE_AFTER_MS),
      1_000,
      "heartbeat removal",
    ).catch(() => undefined);
    await Promise.allSettled([...this.removals]);
    await this.o.store.close().catch(() => undefined);
  }

  /**
   * Stores `change` for the whole fleet, then applies it here.
   * @throws {ControlStoreUnavailableError} when the store cannot take it.
   */
  async change(change: ControlChange, actor: string | null): Promise<number> {
    return this.exclusive(async () => {
      const version = await this.commit(change, actor);
      await this.reloadLocked().catch((err: unknown) =>
        this.unreachable(err, "change stored but not reloaded"),
      );
      return version;
    });
  }

  /**
   * Verifies and adds a replica here, then stores it for the fleet; when the
   * store refuses, the replica is taken out again and nothing changed.
   */
  async addReplica(
    url: string,
    options: AddReplicaOptions & { cluster: string },
    actor: string | null,
  ): Promise<DbNode> {
    return this.exclusive(async () => {
      await this.storeReachable();
      const node = await this.o.router.addReplica(url, options);
      const name = shortName(options.cluster, node.name);
      const key = { kind: "replica", cluster: options.cluster, name } as const;
      try {
        await this.commit(
          {
            set: [
              {
                key,
                value: {
                  present: true,
                  ...(options.weight !== undefined
                    ? { weight: options.weight }
                    : {}),
                  zone: options.zone ?? null,
                },
                connectionString: url,
              },
            ],
            // A circuit forced on an earlier replica of this name does not carry over.
            remove: [{ kind: "circuit", cluster: options.cluster, name }],
            action: "added a replica",
            target: `${options.cluster}:${name}`,
            detail: {
              address: describeAddress(url),
              weight: options.weight ?? 1,
              zone: options.zone ?? null,
            },
          },
          actor,
        );
      } catch (err) {
        await this.o.router
          .removeReplica(node.name, { cluster: options.cluster, drainMs: 0 })
          .catch(() => undefined);
        throw err;
      }
      await this.reloadLocked().catch((err: unknown) =>
        this.unreachable(err, "change stored but not reloaded"),
      );
      return node;
    });
  }

  /** The fleet as the heartbeats show it. @throws {ControlStoreUnavailableError} */
  async fleetView(): Promise<FleetViewResponse> {
    const { store, config } = this.o;
    let rows, storedVersion;
    try {
      [rows, storedVersion] = await Promise.all([
        store.instances(config.instanceTimeoutMs * 10),
        store.version(),
      ]);
    } catch (err) {
      throw this.unavailable(err);
    }
    return buildFleetView({
      fleet: config.name,
      mode: config.mode,
      selfId: this.instanceId,
      selfBeat: this.identity(),
      selfView: this.view(),
      rows,
      storedVersion,
      timeoutMs: config.instanceTimeoutMs,
    });
  }

  /** The newest `limit` changes. @throws {ControlStoreUnavailableError} */
  async audit(limit: number): Promise<AuditEntry[]> {
    try {
      return await this.o.store.audit(limit);
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  status(): ControlStatus {
    return {
      mode: this.o.config.mode,
      fleet: this.o.config.name,
      instanceId: this.instanceId,
      appliedVersion: this.loadedVersion,
      storeReachable: this.reachable,
      listening: this.unsubscribe !== null,
      pending: this.pendingList(),
    };
  }

  // ---- following the store ----

  private async tick(): Promise<void> {
    await this.ensureSubscribed();
    let version: number;
    try {
      version = await this.o.store.version();
    } catch (err) {
      this.unreachable(err, "control version check failed");
      // Keep what was applied; retry settings that failed (a replica that came back).
      await this.exclusive(() => this.applyPending());
      return;
    }
    this.reachableAgain();
    if (version !== this.loadedVersion) await this.reload();
    else await this.exclusive(() => this.applyPending());
  }

  /** Reloads the whole state and applies what changed; coalesces bursts of NOTIFYs. */
  private async reload(): Promise<void> {
    if (this.reloadQueued) return;
    this.reloadQueued = true;
    await this.exclusive(async () => {
      this.reloadQueued = false;
      await this.reloadLocked();
    });
  }

  private async reloadLocked(): Promise<void> {
    const { version, rows } = await this.o.store.load();
    this.reachableAgain();
    const entries: ControlEntry[] = [];
    for (const row of rows) {
      const parsed = parseEntry(row);
      if ("entry" in parsed) entries.push(parsed.entry);
      else
        this.o.logger.warn("fleet control: stored setting skipped", {
          key: row.key.slice(0, 100),
          reason: parsed.skipped,
        });
    }
    const keys = new Set(entries.map((e) => keyText(e.key)));
    for (const k of [...this.applied.keys()])
      if (!keys.has(k)) this.applied.delete(k);
    for (const k of [...this.pending.keys()])
      if (!keys.has(k)) this.pending.delete(k);
    this.entries = entries;
    this.loadedVersion = version;
    await this.applyPending();
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.unsubscribe !== null || this.subscribing || this.closed) return;
    this.subscribing = true;
    try {
      const stop = await this.o.store.subscribe(
        (version) => {
          if (version !== this.loadedVersion)
            this.reload().catch((err: unknown) =>
              this.unreachable(err, "control state reload failed"),
            );
        },
        (err) => {
          this.unsubscribe = null;
          this.unreachable(err, "control LISTEN connection lost");
        },
      );
      if (this.closed) stop();
      else this.unsubscribe = stop;
    } catch (err) {
      this.unreachable(err, "control LISTEN failed");
    } finally {
      this.subscribing = false;
    }
  }

  // ---- applying the state ----

  /** Applies every setting not applied at its stored version; replicas first, so circuits find them. */
  private async applyPending(): Promise<void> {
    const order = { replica: 0, circuit: 1, switch: 2 };
    const entries = [...this.entries].sort(
      (a, b) => order[a.kind] - order[b.kind],
    );
    const now = Date.now();
    for (const entry of entries) {
      if (this.closed) return;
      const k = keyText(entry.key);
      if (this.applied.get(k) === entry.version) continue;
      const failed = this.pending.get(k);
      if (
        failed !== undefined &&
        failed.version === entry.version &&
        failed.retryAtMs > now
      )
        continue;
      try {
        if (await this.apply(entry)) {
          this.applied.set(k, entry.version);
          if (failed !== undefined)
            this.o.logger.info("fleet control: setting applied", { key: k });
          this.pending.delete(k);
        }
      } catch (err) {
        const error = describePgError(err);
        if (failed === undefined || failed.version !== entry.version)
          this.o.logger.warn("fleet control: setting not applied yet", {
            key: k,
            error,
          });
        this.pending.set(k, {
          error,
          version: entry.version,
          retryAtMs: now + RETRY_MS,
        });
      }
    }
  }

  /** Applies one setting; false when it cannot apply yet and needs no retry delay (its replica is not here). */
  private async apply(entry: ControlEntry): Promise<boolean> {
    const { router } = this.o;
    if (entry.kind === "switch") {
      const { enabled } = entry.value;
      switch (entry.key.kind) {
        case "reads":
          router.planner.replicaReadsEnabled = enabled;
          break;
        case "reads_endpoint":
          router.planner.setEndpoint(entry.key.endpoint, enabled);
          break;
        case "cache":
          if (router.cache.enabled !== enabled)
            await router.cache.setEnabled(enabled);
          break;
        case "cache_endpoint":
          router.cache.setEndpoint(entry.key.endpoint, enabled);
          break;
      }
      return true;
    }
    const node = this.replica(entry.key.cluster, entry.key.name);
    if (entry.kind === "circuit") {
      if (node === null) return false;
      if (entry.value.open) node.breaker!.openManually("opened by an admin");
      else node.breaker!.closeManually("closed by an admin");
      return true;
    }
    if (!entry.value.present) {
      if (node !== null) this.removeInBackground(entry.key.cluster, node);
      return true;
    }
    if (node !== null) return true;
    await router.addReplica(entry.connectionString!, {
      cluster: entry.key.cluster,
      name: entry.key.name,
      ...(entry.value.weight !== undefined
        ? { weight: entry.value.weight }
        : {}),
      zone: entry.value.zone ?? null,
    });
    return true;
  }

  /** Out of rotation at once; the drain of its statements in flight goes on in the background. */
  private removeInBackground(cluster: string, node: DbNode): void {
    const done = this.o.router
      .removeReplica(node.name, { cluster })
      .catch((err: unknown) =>
        this.o.logger.warn("fleet control: replica removal failed", {
          node: node.name,
          error: describePgError(err),
        }),
      )
      .finally(() => this.removals.delete(done));
    this.removals.add(done);
  }

  private replica(clusterName: string, name: string): DbNode | null {
    const cluster = this.o.router.clusters.find((c) => c.name === clusterName);
    if (cluster === undefined) return null;
    return (
      cluster.replicas.find((n) => shortName(cluster.name, n.name) === name) ??
      null
    );
  }

  // ---- writing ----

  private async commit(
    change: ControlChange,
    actor: string | null,
  ): Promise<number> {
    if (this.closed) throw new ControlStoreUnavailableError("shutting down");
    try {
      const version = await this.o.store.commit(change, {
        instanceId: this.instanceId,
        actor,
      });
      this.reachableAgain();
      this.o.logger.info(`admin: ${change.action}`, {
        target: change.target,
        ...change.detail,
        version,
        ...(actor !== null ? { actor } : {}),
      });
      return version;
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private async storeReachable(): Promise<void> {
    try {
      await this.o.store.version();
    } catch (err) {
      throw this.unavailable(err);
    }
  }

  private unavailable(err: unknown): ControlStoreUnavailableError {
    this.unreachable(err, "control store call failed");
    const code = (err as { code?: unknown } | null)?.code;
    const why =
      code === "42P01"
        ? "its tables are missing: apply the migrations (3_create_fleet_control)"
        : describePgError(err);
    return new ControlStoreUnavailableError(why, { cause: err });
  }

  private unreachable(err: unknown, message: string): void {
    if (!this.reachable || this.closed) return;
    this.reachable = false;
    this.o.logger.warn(
      `fleet control: ${message}; keeping the settings applied so far`,
      {
        error: describePgError(err),
      },
    );
  }

  private reachableAgain(): void {
    if (this.reachable) return;
    this.reachable = true;
    this.o.logger.info("fleet control: control store reachable again", {});
  }

  // ---- heartbeats ----

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      await this.o.store.heartbeat({
        ...this.identity(),
        startedAt: this.startedAt,
        view: this.view(),
      });
    } catch (err) {
      this.unreachable(err, "heartbeat failed");
    }
  }

  private identity() {
    return {
      instanceId: this.instanceId,
      serviceVersion: this.o.serviceVersion,
      startedAt: this.startedAt.toISOString(),
    };
  }

  /** This instance's view of its replicas and of the control state. */
  view(): InstanceView {
    const { router } = this.o;
    return {
      replicas: router.clusters.flatMap((c: NodeCluster) =>
        c.replicas.map((n) => {
          const s = nodeStatus(router, n);
          return {
            cluster: c.name,
            name: shortName(c.name, n.name),
            state: s.state,
            circuit: s.circuit,
            serving: c.serving.includes(n),
            lagSeconds: s.lagSeconds,
            lagBytes: s.lagBytes,
            reads: s.reads,
          };
        }),
      ),
      control: {
        appliedVersion: this.loadedVersion ?? 0,
        pending: this.pendingList(),
      },
    };
  }

  private pendingList(): { key: string; error: string }[] {
    return [...this.pending].map(([key, p]) => ({ key, error: p.error }));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

/** A node's name within its cluster: `shard_b.replica_1` → `replica_1`. */
export function shortName(cluster: string, label: string): string {
  return label.startsWith(`${cluster}.`)
    ? label.slice(cluster.length + 1)
    : label;
}

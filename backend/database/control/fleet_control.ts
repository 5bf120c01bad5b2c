import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import {
  type AddReplicaOptions,
  classifyPgError,
  type DbNode,
  describeAddress,
  describePgError,
  type FleetConfig,
  InvalidArgumentError,
  type Logger,
  type NodeCluster,
  PeriodicTasks,
  type ReplicaRouter,
  RouterError,
  withTimeout,
} from "../router/index";
import { nodeStatus } from "../status/router_status";
import { ControlApplier, shortName } from "./control_applier";
import { keyText, parseEntry, type ControlEntry } from "./control_state";
import {
  CommitUnconfirmedError,
  NameTakenError,
  type AuditEntry,
  type ControlChange,
  type ControlStore,
  type HeartbeatRow,
} from "./control_store";
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
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
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

/** Heartbeats older than this are deleted. */
const PRUNE_AFTER_MS = 3_600_000;
/** Old heartbeats are pruned once per this many heartbeats of this instance. */
const PRUNE_EVERY_BEATS = 60;
/** The fleet view's reads of the store are shared by the requests of this period. */
const VIEW_CACHE_MS = 500;
/** Longest wait at start for replicas stored by other instances to be verified. */
const START_WAIT_MS = 5_000;

/**
 * One instance's member of the fleet control plane. Admin changes go
 * through {@link change} (or {@link addReplica}): stored on the primary in
 * one transaction with an audit row, then applied here before the call
 * returns. Every instance loads the stored state at start, reloads when a
 * NOTIFY announces a new version or the periodic version check sees one,
 * and applies each setting it has not applied yet ({@link ControlApplier}).
 * While the store is unreachable an instance keeps what it last applied,
 * and changes are refused with {@link ControlStoreUnavailableError}.
 */
export class FleetControl {
  readonly instanceId: string;
  private readonly startedAt = new Date();
  private readonly tasks: PeriodicTasks;
  private readonly applier: ControlApplier;
  private entries: ControlEntry[] = [];
  private loadedVersion: number | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  private subscribing = false;
  private reachable = true;
  private reloadQueued = false;
  private closed = false;
  private beats = 0;
  /** Ticks and heartbeats in progress, awaited by {@link close}. */
  private readonly running = new Set<Promise<void>>();
  /** Versions this instance committed (the last 100; for the log only). */
  private readonly ownVersions = new Set<number>();
  private viewRead: {
    atMs: number;
    read: Promise<{ version: number; rows: HeartbeatRow[] }>;
  } | null = null;

  constructor(private readonly o: FleetControlOptions) {
    this.instanceId =
      o.config.instanceId ??
      `${hostname().slice(0, 60)}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.tasks = new PeriodicTasks(o.logger, describePgError);
    this.applier = new ControlApplier(
      o.router,
      o.logger,
      // A replica finished joining: its circuit may apply now.
      () => void this.exclusive(async () => this.applyLocked()),
      (v) => this.ownVersions.has(v),
    );
  }

  /**
   * Loads and applies the stored state (when the store answers; otherwise
   * this instance starts from its environment and catches up later), waits
   * a little for stored replicas to be verified, then starts listening,
   * polling and heart-beating.
   */
  async start(): Promise<void> {
    try {
      await this.reload();
    } catch (err) {
      this.unreachable(err, "control state not loaded at start");
    }
    await withTimeout(
      this.applier.idle(),
      START_WAIT_MS,
      "stored replicas",
    ).catch(() => undefined);
    await this.ensureSubscribed();
    this.tasks.every(this.o.config.pollIntervalMs, () =>
      this.track(this.tick()),
    );
    this.tasks.every(this.o.config.heartbeatIntervalMs, () =>
      this.track(this.beat()),
    );
    void this.track(this.beat());
  }

  /** Stops following the store, removes this instance's heartbeat, closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    this.applier.close();
    this.unsubscribe?.();
    this.unsubscribe = null;
    // Bounded throughout: a stop must not wait on a primary that is down.
    await withTimeout(
      Promise.allSettled([...this.running, this.applier.idle()]),
      2_000,
      "control tasks",
    ).catch(() => undefined);
    await withTimeout(
      this.o.store.leave(this.instanceId),
      1_000,
      "heartbeat removal",
    ).catch(() => undefined);
    await this.o.store.close().catch(() => undefined);
  }

  /**
   * Stores `change` for the whole fleet, then applies it here.
   * @throws {ControlStoreUnavailableError} when the store cannot take it.
   */
  async change(change: ControlChange, actor: string | null): Promise<number> {
    return this.exclusive(async () => {
      const version = await this.commit(change, actor);
      await this.reloadAfterCommit(version);
      return version;
    });
  }

  /**
   * Verifies and adds a replica here, then stores it for the fleet; when the
   * store refuses, the replica is taken out again and nothing changed.
   * @throws {InvalidArgumentError} naming `name` when the fleet already has a replica of that name.
   */
  async addReplica(
    url: string,
    options: AddReplicaOptions & { cluster: string },
    actor: string | null,
  ): Promise<DbNode> {
    return this.exclusive(async () => {
      await this.storeReachable();
      const name = options.name ?? this.freeName(options.cluster);
      const key = { kind: "replica", cluster: options.cluster, name } as const;
      if (this.storedPresent(options.cluster, name))
        throw nameTaken(options.cluster, name);
      const node = await this.o.router.addReplica(url, { ...options, name });
      let version: number;
      try {
        version = await this.commit(
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
            requireAbsent: [key],
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
      this.applier.ownReplica(keyText(key), version);
      await this.reloadAfterCommit(version);
      return node;
    });
  }

  /** The fleet as the heartbeats show it. @throws {ControlStoreUnavailableError} */
  async fleetView(): Promise<FleetViewResponse> {
    const { config } = this.o;
    // One store read serves every request of a short period: a burst of
    // page loads must not take the control pool's connections.
    const now = Date.now();
    if (this.viewRead === null || now - this.viewRead.atMs > VIEW_CACHE_MS)
      this.viewRead = {
        atMs: now,
        read: this.o.store.instances(config.instanceTimeoutMs * 10),
      };
    const { read } = this.viewRead;
    let version: number, rows: HeartbeatRow[];
    try {
      ({ version, rows } = await read);
    } catch (err) {
      if (this.viewRead?.read === read) this.viewRead = null;
      throw this.storeError(err, "the fleet view is read from it");
    }
    return buildFleetView({
      fleet: config.name,
      mode: config.mode,
      selfId: this.instanceId,
      selfBeat: this.identity(),
      selfView: this.view(),
      rows,
      storedVersion: version,
      timeoutMs: config.instanceTimeoutMs,
    });
  }

  /** The newest `limit` changes. @throws {ControlStoreUnavailableError} */
  async audit(limit: number): Promise<AuditEntry[]> {
    try {
      return await this.o.store.audit(limit);
    } catch (err) {
      throw this.storeError(err, "the audit trail is read from it");
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
      pending: this.applier.pendingList(),
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
        pending: this.applier.pendingList(),
      },
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
      await this.exclusive(async () => this.applyLocked());
      return;
    }
    this.reachableAgain();
    if (version !== this.loadedVersion) await this.reload();
    else await this.exclusive(async () => this.applyLocked());
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
    this.applier.retain(new Set(entries.map((e) => keyText(e.key))));
    this.entries = entries;
    this.loadedVersion = version;
    await this.applyLocked();
  }

  /** After this instance's commit: applies it here before the call answers. */
  private async reloadAfterCommit(version: number): Promise<void> {
    try {
      await this.reloadLocked();
    } catch (err) {
      this.unreachable(err, "change stored but not reloaded");
      throw new ControlStoreUnavailableError(
        `the change was stored (version ${version}) but this instance could not read it back (${describePgError(err)}); every instance, this one included, applies it once the control store answers`,
        { cause: err },
      );
    }
  }

  private async applyLocked(): Promise<void> {
    if (!this.closed) await this.applier.applyAll(this.entries);
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

  // ---- writing ----

  private async commit(
    change: ControlChange,
    actor: string | null,
  ): Promise<number> {
    if (this.closed)
      throw new ControlStoreUnavailableError(
        "this instance is shutting down: the change was made on no instance",
      );
    try {
      const version = await this.o.store.commit(change, {
        instanceId: this.instanceId,
        actor,
      });
      this.reachableAgain();
      this.ownVersions.add(version);
      if (this.ownVersions.size > 100)
        this.ownVersions.delete(this.ownVersions.values().next().value!);
      this.o.logger.info(`admin: ${change.action}`, {
        target: change.target,
        ...change.detail,
        version,
        ...(actor !== null ? { actor } : {}),
      });
      return version;
    } catch (err) {
      if (err instanceof NameTakenError) throw nameTaken(err.cluster, err.name);
      if (err instanceof CommitUnconfirmedError) {
        this.unreachable(err.cause, "control COMMIT not confirmed");
        throw new ControlStoreUnavailableError(
          `the control store did not confirm the change (${describePgError(err.cause)}): it may have been stored; check GET /v1/system/database/replicas/admin/audit once the primary answers; every instance converges to whatever was stored`,
          { cause: err },
        );
      }
      throw this.storeError(err, "the change was made on no instance");
    }
  }

  private async storeReachable(): Promise<void> {
    try {
      await this.o.store.version();
    } catch (err) {
      throw this.storeError(err, "the change was made on no instance");
    }
  }

  /**
   * The error a caller sees when a store call failed: 503 when the store is
   * unreachable, busy or lacks its tables; 500 (logged) for anything else,
   * such as missing privileges, which waiting will not fix.
   */
  private storeError(err: unknown, what: string): RouterError {
    const code = (err as { code?: unknown } | null)?.code;
    const busy = code === "57014" || code === "55P03" || code === "ETIMEDOUT";
    if (code === "42P01")
      return new ControlStoreUnavailableError(
        `the fleet control tables are missing: apply the migrations (3_create_fleet_control); ${what}`,
        { cause: err },
      );
    if (classifyPgError(err) === "node" || busy || code === "25006") {
      this.unreachable(err, "control store call failed");
      return new ControlStoreUnavailableError(
        `the fleet's control store (the main cluster's primary) is unavailable (${describePgError(err)}); ${what}; retry when it is back`,
        { cause: err },
      );
    }
    this.o.logger.error("fleet control: control store call failed", {
      error: describePgError(err),
    });
    return new RouterError(
      "internal",
      `the fleet's control store refused the call (${describePgError(err)}); ${what}`,
      { cause: err },
    );
  }

  /** `replica_<n>` for the lowest n that neither this instance nor the stored state uses. */
  private freeName(clusterName: string): string {
    const cluster = this.o.router.clusterNamed(clusterName);
    for (let n = 1; ; n++) {
      const name = `replica_${n}`;
      if (
        !cluster.replicas.some(
          (r) => shortName(cluster.name, r.name) === name,
        ) &&
        !this.storedPresent(clusterName, name)
      )
        return name;
    }
  }

  private storedPresent(cluster: string, name: string): boolean {
    return this.entries.some(
      (e) =>
        e.kind === "replica" &&
        e.value.present &&
        e.key.cluster === cluster &&
        e.key.name === name,
    );
  }

  private unreachable(err: unknown, message: string): void {
    if (!this.reachable || this.closed) return;
    this.reachable = false;
    this.o.logger.warn(
      `fleet control: ${message}; keeping the settings applied so far`,
      { error: describePgError(err) },
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
      if (++this.beats % PRUNE_EVERY_BEATS === 0)
        await this.o.store.prune(PRUNE_AFTER_MS);
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

  private track(p: Promise<void>): Promise<void> {
    this.running.add(p);
    return p.finally(() => this.running.delete(p));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }
}

function nameTaken(cluster: string, name: string): InvalidArgumentError {
  return new InvalidArgumentError(
    "name",
    `"${name}" is already a replica of the fleet in cluster "${cluster}" (added through another instance); remove it first or choose another name`,
  );
}

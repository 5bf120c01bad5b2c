import {
  type AddReplicaOptions,
  type DbNode,
  describePgError,
  failureCategory,
  type FleetConfig,
  type Logger,
  PeriodicTasks,
  type RouterRoles,
  RouterError,
  withTimeout,
} from "../router/index";
import { ControlApplier } from "./control_applier";
import { keyText, type ControlEntry } from "./control_state";
import {
  CommitUnconfirmedError,
  NameTakenError,
  type AuditEntry,
  type ControlChange,
  type ControlStore,
} from "./control_store";
import {
  addedReplicaChange,
  freeReplicaName,
  nameTaken,
  replicaViews,
  storedPresent,
} from "./replica_control";
import {
  ControlStoreUnavailableError,
  storeCallError,
  unconfirmedCommit,
} from "./store_errors";
import type {
  ControlStatus,
  FleetViewResponse,
  InstanceView,
} from "./fleet_view";
import { FleetPresence, newInstanceId } from "./fleet_presence";
import { storedEntries, UrlSealer, urlToStore } from "./url_sealer";
import { StoreSubscription } from "./store_subscription";

/** What {@link FleetControl} needs. */
export interface FleetControlOptions {
  readonly router: RouterRoles;
  readonly store: ControlStore;
  readonly config: FleetConfig;
  readonly logger: Logger;
  /** Reported in the heartbeat: the build or package version. */
  readonly serviceVersion: string;
}

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
  private readonly presence: FleetPresence;
  private readonly sealer: UrlSealer;
  private readonly tasks: PeriodicTasks;
  private readonly applier: ControlApplier;
  private entries: ControlEntry[] = [];
  private loadedVersion: number | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  private readonly subscription: StoreSubscription;
  private reachable = true;
  private reloadQueued = false;
  private closed = false;
  /** Ticks and heartbeats in progress, awaited by {@link close}. */
  private readonly running = new Set<Promise<void>>();
  /** Versions this instance committed (the last 100; for the log only). */
  private readonly ownVersions = new Set<number>();
  constructor(private readonly o: FleetControlOptions) {
    this.instanceId = o.config.instanceId ?? newInstanceId();
    this.sealer = UrlSealer.fromSettings(o.config.urlKey, o.config.oldUrlKeys);
    this.tasks = new PeriodicTasks(o.logger, describePgError);
    this.subscription = new StoreSubscription(o.store, {
      version: (version) => {
        if (version !== this.loadedVersion)
          this.reload().catch((err: unknown) =>
            this.unreachable(err, "control state reload failed"),
          );
      },
      trouble: (err, message) => this.unreachable(err, message),
    });
    this.presence = new FleetPresence({
      store: o.store,
      config: o.config,
      instanceId: this.instanceId,
      serviceVersion: o.serviceVersion,
      view: () => this.view(),
    });
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
    await this.subscription.ensure();
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
    this.subscription.stop();
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
      const name =
        options.name ??
        freeReplicaName(this.o.router, this.entries, options.cluster);
      const key = { kind: "replica", cluster: options.cluster, name } as const;
      if (storedPresent(this.entries, options.cluster, name))
        throw nameTaken(options.cluster, name);
      const stored = urlToStore(this.sealer, this.o.config.mode, url);
      const node = await this.o.router.addReplica(url, { ...options, name });
      let version: number;
      try {
        version = await this.commit(
          addedReplicaChange(key, stored, url, options),
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
    try {
      return await this.presence.fleetView();
    } catch (err) {
      throw this.storeError(err, "the fleet view is read from it");
    }
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
      listening: this.subscription.listening,
      pending: this.applier.pendingList(),
    };
  }

  /** This instance's view of its replicas and of the control state. */
  view(): InstanceView {
    return {
      replicas: replicaViews(this.o.router),
      control: {
        appliedVersion: this.loadedVersion ?? 0,
        pending: this.applier.pendingList(),
      },
    };
  }

  // ---- following the store ----

  private async tick(): Promise<void> {
    await this.subscription.ensure();
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
    const entries = storedEntries(this.sealer, rows, this.o.logger);
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
        `the change was stored (version ${version}) but this instance could not read it back (${failureCategory(err)}); every instance, this one included, applies it once the control store answers`,
        { cause: err },
      );
    }
  }

  private async applyLocked(): Promise<void> {
    if (!this.closed) await this.applier.applyAll(this.entries);
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
        throw unconfirmedCommit(err);
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

  /** The error a caller sees when a store call failed (see {@link storeCallError}). */
  private storeError(err: unknown, what: string): RouterError {
    const { error, unreachable } = storeCallError(err, what);
    if (unreachable) this.unreachable(err, "control store call failed");
    else if (error.code === "internal")
      this.o.logger.error("fleet control: control store call failed", {
        error: describePgError(err),
      });
    return error;
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
      await this.presence.beat();
    } catch (err) {
      this.unreachable(err, "heartbeat failed");
    }
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

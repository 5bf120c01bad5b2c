import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { FleetConfig } from "../router/index";
import type { ControlStore, HeartbeatRow } from "./control_store";
import {
  buildFleetView,
  type FleetViewResponse,
  type InstanceView,
} from "./fleet_view";

/** Heartbeats older than this are deleted. */
const PRUNE_AFTER_MS = 3_600_000;
/** Old heartbeats are pruned once per this many heartbeats of this instance. */
const PRUNE_EVERY_BEATS = 60;
/** The fleet view's reads of the store are shared by the requests of this period. */
const VIEW_CACHE_MS = 500;

/** An id for this instance that no other instance of the fleet has: host, pid and a random tail. */
export function newInstanceId(): string {
  return `${hostname().slice(0, 60)}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/**
 * This instance's presence in the fleet: the heartbeat it stores, and the
 * fleet view built from every instance's heartbeat.
 */
export class FleetPresence {
  private readonly startedAt = new Date();
  private beats = 0;
  private viewRead: {
    atMs: number;
    read: Promise<{ version: number; rows: HeartbeatRow[] }>;
  } | null = null;

  constructor(
    private readonly o: {
      readonly store: ControlStore;
      readonly config: FleetConfig;
      readonly instanceId: string;
      /** Reported in the heartbeat: the build or package version. */
      readonly serviceVersion: string;
      /** This instance's replicas and control state, as of now. */
      readonly view: () => InstanceView;
    },
  ) {}

  /** Stores this instance's heartbeat (and now and then prunes old ones). @throws what the store throws */
  async beat(): Promise<void> {
    await this.o.store.heartbeat({
      ...this.identity(),
      startedAt: this.startedAt,
      view: this.o.view(),
    });
    if (++this.beats % PRUNE_EVERY_BEATS === 0)
      await this.o.store.prune(PRUNE_AFTER_MS);
  }

  /** The fleet as the heartbeats show it. @throws what the store throws */
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
      throw err;
    }
    return buildFleetView({
      fleet: config.name,
      mode: config.mode,
      selfId: this.o.instanceId,
      selfBeat: this.identity(),
      selfView: this.o.view(),
      rows,
      storedVersion: version,
      timeoutMs: config.instanceTimeoutMs,
    });
  }

  private identity() {
    return {
      instanceId: this.o.instanceId,
      serviceVersion: this.o.serviceVersion,
      startedAt: this.startedAt.toISOString(),
    };
  }
}

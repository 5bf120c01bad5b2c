import { z } from "zod";
import type { HeartbeatRow } from "./control_store";

/** One replica as one instance sees it (part of its heartbeat). */
export interface ReplicaView {
  cluster: string;
  /** The replica's name within its cluster: `replica_2`. */
  name: string;
  /** healthy, lagging, down, not_a_replica, circuit_open, ... (as in the status endpoint). */
  state: string;
  circuit: string;
  /** This instance sends reads to it now. */
  serving: boolean;
  lagSeconds: number | null;
  lagBytes: number | null;
  /** Reads this instance has sent to it since it started. */
  reads: number;
}

/** What an instance reports in its heartbeat besides its identity. */
export interface InstanceView {
  replicas: ReplicaView[];
  control: {
    /** The version of the control state this instance has applied. */
    appliedVersion: number;
    /** Settings it could not apply yet (a replica it cannot reach), with why. */
    pending: { key: string; error: string }[];
  };
}

/** A heartbeat's view as stored: checked, since another version may have written it. */
const instanceViewSchema = z.object({
  replicas: z.array(
    z.object({
      cluster: z.string(),
      name: z.string(),
      state: z.string(),
      circuit: z.string(),
      serving: z.boolean(),
      lagSeconds: z.number().nullable(),
      lagBytes: z.number().nullable(),
      reads: z.number(),
    }),
  ),
  control: z.object({
    appliedVersion: z.number(),
    pending: z.array(z.object({ key: z.string(), error: z.string() })),
  }),
});

/** This instance's part in the control plane, for the status endpoints. */
export interface ControlStatus {
  mode: "database" | "local";
  fleet: string;
  instanceId: string;
  /** The stored version this instance last loaded; null before the first load. */
  appliedVersion: number | null;
  /** The last attempt to reach the store worked. */
  storeReachable: boolean;
  /** A LISTEN connection is open (changes arrive at once; otherwise within FLEET_POLL_INTERVAL). */
  listening: boolean;
  pending: { key: string; error: string }[];
}

/** One instance in the fleet view. */
export interface FleetInstance {
  instanceId: string;
  serviceVersion: string;
  startedAt: string;
  heartbeatAt: string;
  /** Milliseconds since its last heartbeat, by the database's clock. */
  heartbeatAgeMs: number;
  /** `gone`: no heartbeat within FLEET_INSTANCE_TIMEOUT (killed, hung or cut off). */
  status: "live" | "gone";
  /** The instance that answered this request. */
  self: boolean;
  appliedVersion: number | null;
  /** Has not applied the stored version, as of its last heartbeat (normal for one heartbeat interval after a change). */
  behind: boolean;
  pending: { key: string; error: string }[];
  replicas: ReplicaView[];
}

/** One replica across the live instances. */
export interface FleetReplica {
  cluster: string;
  name: string;
  /** Live instances that send it reads (instances whose heartbeat this version cannot read are left out). */
  servingOn: string[];
  /** Live instances that know it but do not send it reads, with their view. */
  notServingOn: { instanceId: string; state: string; circuit: string }[];
  /** Live instances that do not have it at all. */
  missingOn: string[];
  /** Live instances see it differently: some serve it, some do not or lack it. */
  disagreement: boolean;
}

/** Body of GET /v1/system/database/replicas/fleet. */
export interface FleetViewResponse {
  fleet: string;
  mode: "database" | "local";
  self: string;
  storedVersion: number;
  instanceTimeoutMs: number;
  instances: FleetInstance[];
  replicas: FleetReplica[];
  /** Replicas with `disagreement: true`, as `cluster:name`. */
  disagreements: string[];
}

/**
 * The fleet view from the stored heartbeats: this instance's own entry uses
 * its view of this moment (not its last heartbeat); an instance whose
 * heartbeat is older than `timeoutMs` is `gone` and takes no part in the
 * disagreement check.
 */
export function buildFleetView(input: {
  fleet: string;
  mode: "database" | "local";
  selfId: string;
  selfBeat: Omit<HeartbeatRow, "view" | "heartbeatAt" | "ageMs">;
  selfView: InstanceView;
  rows: readonly HeartbeatRow[];
  storedVersion: number;
  timeoutMs: number;
}): FleetViewResponse {
  const instances: FleetInstance[] = [];
  const now = new Date().toISOString();
  instances.push(
    instanceOf(
      { ...input.selfBeat, heartbeatAt: now, ageMs: 0 },
      input.selfView,
      true,
      input,
    ),
  );
  for (const row of input.rows) {
    if (row.instanceId === input.selfId) continue;
    const parsed = instanceViewSchema.safeParse(row.view);
    instances.push(
      instanceOf(row, parsed.success ? parsed.data : null, false, input),
    );
  }
  instances.sort((a, b) => a.instanceId.localeCompare(b.instanceId));

  // Live instances whose view this version could read (appliedVersion is
  // null for one it could not): an unreadable view is unknown, not empty.
  const live = instances.filter(
    (i) => i.status === "live" && i.appliedVersion !== null,
  );
  const names = new Map<string, { cluster: string; name: string }>();
  for (const i of live)
    for (const r of i.replicas)
      names.set(`${r.cluster}:${r.name}`, { cluster: r.cluster, name: r.name });
  const replicas: FleetReplica[] = [...names]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([id, { cluster, name }]) => {
      const servingOn: string[] = [];
      const notServingOn: FleetReplica["notServingOn"] = [];
      const missingOn: string[] = [];
      for (const i of live) {
        const r = i.replicas.find((x) => `${x.cluster}:${x.name}` === id);
        if (r === undefined) missingOn.push(i.instanceId);
        else if (r.serving) servingOn.push(i.instanceId);
        else
          notServingOn.push({
            instanceId: i.instanceId,
            state: r.state,
            circuit: r.circuit,
          });
      }
      const kinds = [servingOn, notServingOn, missingOn].filter(
        (l) => l.length > 0,
      ).length;
      return {
        cluster,
        name,
        servingOn,
        notServingOn,
        missingOn,
        disagreement: kinds > 1,
      };
    });
  return {
    fleet: input.fleet,
    mode: input.mode,
    self: input.selfId,
    storedVersion: input.storedVersion,
    instanceTimeoutMs: input.timeoutMs,
    instances,
    replicas,
    disagreements: replicas
      .filter((r) => r.disagreement)
      .map((r) => `${r.cluster}:${r.name}`),
  };
}

function instanceOf(
  row: Omit<HeartbeatRow, "view">,
  view: InstanceView | null,
  self: boolean,
  input: { storedVersion: number; timeoutMs: number },
): FleetInstance {
  const appliedVersion = view?.control.appliedVersion ?? null;
  return {
    instanceId: row.instanceId,
    serviceVersion: row.serviceVersion,
    startedAt: row.startedAt,
    heartbeatAt: row.heartbeatAt,
    heartbeatAgeMs: row.ageMs,
    status: row.ageMs <= input.timeoutMs ? "live" : "gone",
    self,
    appliedVersion,
    behind: appliedVersion !== null && appliedVersion < input.storedVersion,
    pending: view?.control.pending ?? [],
    replicas: view?.replicas ?? [],
  };
}

import {
  type AddReplicaOptions,
  describeAddress,
  InvalidArgumentError,
  type RouterRoles,
  type RouterStatusView,
} from "../router/index";
import { nodeStatus } from "../status/router_status";
import { shortName } from "./control_applier";
import type { ControlEntry } from "./control_state";
import type { ControlChange } from "./control_store";
import type { ReplicaView } from "./fleet_view";

/** The stored key of a replica added at run time. */
export interface ReplicaKey {
  readonly kind: "replica";
  readonly cluster: string;
  readonly name: string;
}

/** This instance's replicas as its heartbeat shows them. */
export function replicaViews(router: RouterStatusView): ReplicaView[] {
  return router.clusters.flatMap((c) =>
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
  );
}

/** The stored state holds a present replica `name` in `cluster`. */
export function storedPresent(
  entries: readonly ControlEntry[],
  cluster: string,
  name: string,
): boolean {
  return entries.some(
    (e) =>
      e.kind === "replica" &&
      e.value.present &&
      e.key.cluster === cluster &&
      e.key.name === name,
  );
}

/** `replica_<n>` for the lowest n that neither this instance nor the stored state uses. */
export function freeReplicaName(
  router: RouterRoles,
  entries: readonly ControlEntry[],
  clusterName: string,
): string {
  const cluster = router.clusterNamed(clusterName);
  for (let n = 1; ; n++) {
    const name = `replica_${n}`;
    if (
      !cluster.replicas.some((r) => shortName(cluster.name, r.name) === name) &&
      !storedPresent(entries, clusterName, name)
    )
      return name;
  }
}

/**
 * The stored change that adds replica `key`: its connection string as
 * stored (`stored`, sealed), its audit row with the address of `url`
 * (never the URL).
 */
export function addedReplicaChange(
  key: ReplicaKey,
  stored: string,
  url: string,
  options: AddReplicaOptions,
): ControlChange {
  return {
    set: [
      {
        key,
        value: {
          present: true,
          ...(options.weight !== undefined ? { weight: options.weight } : {}),
          zone: options.zone ?? null,
        },
        connectionString: stored,
      },
    ],
    // A circuit forced on an earlier replica of this name does not carry over.
    remove: [{ kind: "circuit", cluster: key.cluster, name: key.name }],
    requireAbsent: [key],
    action: "added a replica",
    target: `${key.cluster}:${key.name}`,
    detail: {
      address: describeAddress(url),
      weight: options.weight ?? 1,
      zone: options.zone ?? null,
    },
  };
}

/** A replica of that name is already in the fleet: a 400 naming `name`. */
export function nameTaken(cluster: string, name: string): InvalidArgumentError {
  return new InvalidArgumentError(
    "name",
    `"${name}" is already a replica of the fleet in cluster "${cluster}" (added through another instance); remove it first or choose another name`,
  );
}

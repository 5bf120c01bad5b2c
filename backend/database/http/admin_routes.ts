import { z } from "zod";
import {
  InvalidArgumentError,
  isPostgresUrl,
  MAIN_CLUSTER,
  NotFoundError,
  type RouterRoles,
  type RouterStatusView,
  ZONE_RE,
} from "../router/index";
import { replicaStatus } from "../status/router_status";
import { parseBody } from "../../shared/http/validation";
import type { RouteDef, RouteInput } from "../../shared/http/route";
import type { FleetControl } from "../control/fleet_control";
import { shortName } from "../control/control_applier";
import type { ControlKey } from "../control/control_state";

const NAME = z
  .string()
  .regex(/^[a-z][a-z0-9_.]{0,80}$/, "lower-case letters, digits, _ and .");
const addReplicaBody = z
  .object({
    connectionString: z
      .string()
      .max(2048)
      .refine(isPostgresUrl, "not a postgres:// URL"),
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,62}$/, "lower-case letters, digits and _")
      .optional(),
    weight: z.number().int().min(1).max(1000).optional(),
    cluster: NAME.optional(),
    zone: z
      .string()
      .regex(ZONE_RE, "a zone name (letters, digits, . _ -)")
      .optional(),
  })
  .strict();
const switchBody = z.object({ enabled: z.boolean() }).strict();
const clusterQuery = (q: Readonly<Record<string, string | undefined>>) => {
  if (q.cluster === undefined) return undefined;
  const r = NAME.safeParse(q.cluster);
  if (!r.success)
    throw new InvalidArgumentError("cluster", "not a cluster name");
  return r.data;
};

/**
 * Admin routes (bearer token; see the HTTP layer). Every change goes through
 * the fleet control plane: stored on the main cluster's primary with an
 * audit row, applied on this instance before the answer and on every other
 * instance of the fleet within about a second (docs/architecture.md, "Fleet
 * control"). The audit rows and logs hold what changed, never a connection
 * string.
 */
export function adminRoutes(
  router: RouterRoles,
  control: FleetControl,
  /** Endpoint names that exist, so a typo in a switch is a 404 rather than a silent no-op. */
  knownEndpoints?: KnownEndpoints,
): RouteDef[] {
  const actorOf = (input: RouteInput) => input.actor ?? null;
  const replicaOf = ({ params, query }: RouteInput) => {
    const r = NAME.safeParse(params.name);
    if (!r.success)
      throw new InvalidArgumentError("name", "not a replica name");
    const cluster = router.clusterNamed(clusterQuery(query) ?? MAIN_CLUSTER);
    const node = router.replicaNamed(cluster, r.data);
    return {
      cluster: cluster.name,
      node,
      name: shortName(cluster.name, node.name),
    };
  };
  const setCircuit = async (input: RouteInput, open: boolean) => {
    const { cluster, node, name } = replicaOf(input);
    await control.change(
      {
        set: [{ key: { kind: "circuit", cluster, name }, value: { open } }],
        action: open ? "opened a circuit" : "closed a circuit",
        target: `${cluster}:${name}`,
        detail: {},
      },
      actorOf(input),
    );
    return { name: node.name, circuit: node.breaker.stateName };
  };
  /** A `PUT {enabled}` switch, global or (with `:endpoint` in its path) per endpoint. */
  const switchRoute = (
    path: string,
    endpoint: string,
    keyOf: (endpoint: string | undefined) => SwitchKey,
    answer: () => unknown,
    /** A global switch's value now, for the audit row's `from`. */
    current?: () => boolean,
  ): RouteDef => ({
    method: "PUT",
    path,
    endpoint,
    admin: true,
    handle: async (input) => {
      const target = path.endsWith("/:endpoint")
        ? checkEndpoint(input.params.endpoint, knownEndpoints)
        : undefined;
      const { enabled } = parseBody(switchBody, input.body);
      const key = keyOf(target);
      await control.change(
        {
          set: [{ key, value: { enabled } }],
          action: SWITCH_ACTIONS[key.kind],
          target: target ?? "all endpoints",
          detail:
            current !== undefined
              ? { from: current(), to: enabled }
              : { enabled },
        },
        actorOf(input),
      );
      return answer();
    },
  });
  return [
    {
      method: "POST",
      path: "/v1/system/database/health-check",
      endpoint: "database.forceHealthCheck",
      admin: true,
      // An action on this instance's view, not a setting: nothing to share.
      handle: async () => {
        await router.checkNow();
        return replicaStatus(router, control, { addresses: true });
      },
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas",
      endpoint: "database.addReplica",
      admin: true,
      successStatus: 201,
      handle: async (input) => {
        const b = parseBody(addReplicaBody, input.body);
        const node = await control.addReplica(
          b.connectionString,
          {
            cluster: router.clusterNamed(b.cluster ?? MAIN_CLUSTER).name,
            ...(b.name !== undefined ? { name: b.name } : {}),
            ...(b.weight !== undefined ? { weight: b.weight } : {}),
            ...(b.zone !== undefined ? { zone: b.zone } : {}),
          },
          actorOf(input),
        );
        return {
          name: node.name,
          address: node.address,
          state: node.state({}),
        };
      },
    },
    {
      method: "DELETE",
      path: "/v1/system/database/replicas/:name",
      endpoint: "database.removeReplica",
      admin: true,
      handle: async (input) => {
        const { cluster, name } = replicaOf(input);
        await control.change(
          {
            set: [
              {
                key: { kind: "replica", cluster, name },
                value: { present: false },
              },
            ],
            remove: [{ kind: "circuit", cluster, name }],
            action: "removed a replica",
            target: `${cluster}:${name}`,
            detail: {},
          },
          actorOf(input),
        );
        return { removed: input.params.name! };
      },
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas/:name/circuit/open",
      endpoint: "database.openCircuit",
      admin: true,
      handle: (input) => setCircuit(input, true),
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas/:name/circuit/close",
      endpoint: "database.closeCircuit",
      admin: true,
      handle: (input) => setCircuit(input, false),
    },
    switchRoute(
      "/v1/system/database/read-replicas",
      "database.setReplicaReads",
      () => ({ kind: "reads" }),
      () => router.readSwitches(),
      () => router.readSwitches().enabled,
    ),
    switchRoute(
      "/v1/system/database/read-replicas/endpoints/:endpoint",
      "database.setEndpointReplicaReads",
      (endpoint) => ({ kind: "reads_endpoint", endpoint: endpoint! }),
      () => router.readSwitches(),
    ),
    switchRoute(
      "/v1/system/database/cache",
      "database.setCache",
      () => ({ kind: "cache" }),
      () => cacheSwitches(router),
      () => router.cacheEnabled,
    ),
    switchRoute(
      "/v1/system/database/cache/endpoints/:endpoint",
      "database.setEndpointCache",
      (endpoint) => ({ kind: "cache_endpoint", endpoint: endpoint! }),
      () => cacheSwitches(router),
    ),
  ];
}

/**
 * The services this process serves and their endpoint names, read when a
 * switch is set. A name of one of these services must be one of its
 * endpoints (a typo is a 404); a name of another service (Encore may run
 * it in another process) is checked for its form only.
 */
export type KnownEndpoints = () => {
  readonly services: ReadonlySet<string>;
  readonly endpoints: ReadonlySet<string>;
};

/** The keys of the four switches. */
type SwitchKey = ControlKey & {
  kind: "reads" | "reads_endpoint" | "cache" | "cache_endpoint";
};

/** What each switch's audit row says. */
const SWITCH_ACTIONS: Record<SwitchKey["kind"], string> = {
  reads: "switched replica reads",
  reads_endpoint: "switched replica reads for an endpoint",
  cache: "switched the query cache",
  cache_endpoint: "switched the query cache for an endpoint",
};

/** The cache switches as the admin endpoints answer them. */
export interface CacheSwitches {
  enabled: boolean;
  disabledEndpoints: string[];
}

function cacheSwitches(router: RouterStatusView): CacheSwitches {
  const { enabled, disabledEndpoints } = router.cacheStatus();
  return { enabled, disabledEndpoints };
}

/** A `service.endpointName` path parameter naming a known endpoint. */
function checkEndpoint(
  raw: string | undefined,
  knownEndpoints: KnownEndpoints | undefined,
): string {
  const endpoint = raw ?? "";
  if (!/^[a-z][A-Za-z0-9_]{0,62}\.[a-z][A-Za-z0-9_]{0,62}$/.test(endpoint)) {
    throw new InvalidArgumentError(
      "endpoint",
      "expected service.endpointName, e.g. finance.listRevenues",
    );
  }
  const known = knownEndpoints?.();
  const service = endpoint.slice(0, endpoint.indexOf("."));
  if (
    known !== undefined &&
    known.services.has(service) &&
    !known.endpoints.has(endpoint)
  ) {
    throw new NotFoundError(`no endpoint named "${endpoint}"`);
  }
  return endpoint;
}

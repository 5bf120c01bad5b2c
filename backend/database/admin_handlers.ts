import { z } from "zod";
import { isPostgresUrl } from "./router/config/config";
import { InvalidArgumentError, NotFoundError } from "./router/errors";
import type { Logger } from "./router/support/logger";
import { describeAddress } from "./router/nodes/pg_pool";
import { ZONE_RE } from "./router/config/zones";
import type { ReplicaRouter } from "./router/replica_router";
import { replicaStatus } from "./monitoring_handlers";
import { parseBody } from "../shared/http/validation";
import type { RouteDef } from "../shared/http/route";

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
 * Admin routes (bearer token; see the HTTP layer). Every action is logged
 * with what changed, never with a connection string.
 */
export function adminRoutes(
  router: ReplicaRouter,
  logger: Logger,
  /** Endpoint names that exist, so a typo in a switch is a 404 rather than a silent no-op. */
  knownEndpoints?: () => ReadonlySet<string>,
): RouteDef[] {
  const audit = (action: string, fields: Record<string, unknown>) =>
    logger.info(`admin: ${action}`, fields);
  const replicaParam = (params: Readonly<Record<string, string>>) => {
    const r = NAME.safeParse(params.name);
    if (!r.success)
      throw new InvalidArgumentError("name", "not a replica name");
    return r.data;
  };
  return [
    {
      method: "POST",
      path: "/v1/system/database/health-check",
      endpoint: "database.forceHealthCheck",
      admin: true,
      handle: async () => {
        await router.health.checkAll();
        await router.lagMonitor.sampleAll();
        audit("forced a health check", {});
        return replicaStatus(router);
      },
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas",
      endpoint: "database.addReplica",
      admin: true,
      successStatus: 201,
      handle: async ({ body }) => {
        const b = parseBody(addReplicaBody, body);
        const node = await router.addReplica(b.connectionString, {
          ...(b.cluster !== undefined ? { cluster: b.cluster } : {}),
          ...(b.name !== undefined ? { name: b.name } : {}),
          ...(b.weight !== undefined ? { weight: b.weight } : {}),
          ...(b.zone !== undefined ? { zone: b.zone } : {}),
        });
        audit("added a replica", {
          node: node.name,
          address: describeAddress(b.connectionString),
        });
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
      handle: async ({ params, query }) => {
        const name = replicaParam(params);
        await router.removeReplica(name, {
          ...(clusterQuery(query) !== undefined
            ? { cluster: clusterQuery(query)! }
            : {}),
        });
        audit("removed a replica", { node: name });
        return { removed: name };
      },
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas/:name/circuit/open",
      endpoint: "database.openCircuit",
      admin: true,
      handle: async ({ params, query }) => {
        const node = router.replicaNamed(
          router.clusterNamed(clusterQuery(query) ?? "main"),
          replicaParam(params),
        );
        node.breaker!.openManually("opened by an admin");
        audit("opened a circuit", { node: node.name });
        return { name: node.name, circuit: node.breaker!.stateName };
      },
    },
    {
      method: "POST",
      path: "/v1/system/database/replicas/:name/circuit/close",
      endpoint: "database.closeCircuit",
      admin: true,
      handle: async ({ params, query }) => {
        const node = router.replicaNamed(
          router.clusterNamed(clusterQuery(query) ?? "main"),
          replicaParam(params),
        );
        node.breaker!.closeManually("closed by an admin");
        audit("closed a circuit", { node: node.name });
        return { name: node.name, circuit: node.breaker!.stateName };
      },
    },
    {
      method: "PUT",
      path: "/v1/system/database/read-replicas",
      endpoint: "database.setReplicaReads",
      admin: true,
      handle: async ({ body }) => {
        const { enabled } = parseBody(switchBody, body);
        const was = router.planner.replicaReadsEnabled;
        router.planner.replicaReadsEnabled = enabled;
        audit("switched replica reads", { from: was, to: enabled });
        return router.planner.switches();
      },
    },
    {
      method: "PUT",
      path: "/v1/system/database/read-replicas/endpoints/:endpoint",
      endpoint: "database.setEndpointReplicaReads",
      admin: true,
      handle: async ({ params, body }) => {
        const endpoint = checkEndpoint(params.endpoint, knownEndpoints);
        const { enabled } = parseBody(switchBody, body);
        router.planner.setEndpoint(endpoint, enabled);
        audit("switched replica reads for an endpoint", { endpoint, enabled });
        return router.planner.switches();
      },
    },
    {
      method: "PUT",
      path: "/v1/system/database/cache",
      endpoint: "database.setCache",
      admin: true,
      handle: async ({ body }) => {
        const { enabled } = parseBody(switchBody, body);
        const was = router.cache.enabled;
        await router.cache.setEnabled(enabled);
        audit("switched the query cache", { from: was, to: enabled });
        return cacheSwitches(router);
      },
    },
    {
      method: "PUT",
      path: "/v1/system/database/cache/endpoints/:endpoint",
      endpoint: "database.setEndpointCache",
      admin: true,
      handle: async ({ params, body }) => {
        const endpoint = checkEndpoint(params.endpoint, knownEndpoints);
        const { enabled } = parseBody(switchBody, body);
        router.cache.setEndpoint(endpoint, enabled);
        audit("switched the query cache for an endpoint", {
          endpoint,
          enabled,
        });
        return cacheSwitches(router);
      },
    },
  ];
}

/** The cache switches as the admin endpoints answer them. */
export interface CacheSwitches {
  enabled: boolean;
  disabledEndpoints: string[];
}

function cacheSwitches(router: ReplicaRouter): CacheSwitches {
  const { enabled, disabledEndpoints } = router.cache.status();
  return { enabled, disabledEndpoints };
}

/** A `service.endpointName` path parameter naming a known endpoint. */
function checkEndpoint(
  raw: string | undefined,
  knownEndpoints: (() => ReadonlySet<string>) | undefined,
): string {
  const endpoint = raw ?? "";
  if (!/^[a-z][A-Za-z0-9_]{0,62}\.[a-z][A-Za-z0-9_]{0,62}$/.test(endpoint)) {
    throw new InvalidArgumentError(
      "endpoint",
      "expected service.endpointName, e.g. finance.listRevenues",
    );
  }
  if (knownEndpoints !== undefined && !knownEndpoints().has(endpoint)) {
    throw new NotFoundError(`no endpoint named "${endpoint}"`);
  }
  return endpoint;
}

import type { ReplicaRouter } from "./replica_router";
import type { RouterRoles } from "./roles";

/**
 * The roles of `router` (roles.ts), each method a call into the
 * collaborator that owns the state: the planner's switches, the cache's,
 * a replica's breaker, the fleet membership, the watchers.
 */
export function routerRoles(router: ReplicaRouter): RouterRoles {
  const { planner, cache } = router;
  return {
    config: router.config,
    get clusters() {
      return router.clusters;
    },
    readSwitches: () => planner.switches(),
    readDefaults: () => router.readDefaults.describe(),
    cacheStatus: () => cache.status(),
    eventLoopDelay: () => router.eventLoopDelay(),
    primaryLsn: (cluster) => router.lagMonitor.lastPrimaryLsn(cluster),
    setReplicaReads: (enabled) => planner.setReplicaReads(enabled),
    setEndpointReplicaReads: (endpoint, enabled) =>
      planner.setEndpoint(endpoint, enabled),
    get cacheEnabled() {
      return cache.enabled;
    },
    setCache: (enabled) => cache.setEnabled(enabled),
    setEndpointCache: (endpoint, enabled) =>
      cache.setEndpoint(endpoint, enabled),
    setCircuit: (replica, open, reason) => {
      if (open) replica.breaker.openManually(reason);
      else replica.breaker.closeManually(reason);
    },
    clusterNamed: (name) => router.clusterNamed(name),
    replicaNamed: (cluster, name) => router.replicaNamed(cluster, name),
    addReplica: (url, options) => router.addReplica(url, options),
    removeReplica: (name, options) => router.removeReplica(name, options),
    checkNow: async () => {
      await router.health.checkAll();
      await router.lagMonitor.sampleAll();
    },
  };
}

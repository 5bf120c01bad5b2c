import type { ReadCount } from "./snapshot";
import type { DbNode, RouteReason } from "../router/index";

/** Reads routed to one node, by endpoint and reason, and the counter used last. */
interface NodeRoutes {
  readonly byEndpoint: Map<string, Map<RouteReason, { n: number }>>;
  endpoint: string | null;
  reason: RouteReason | null;
  last: { n: number } | null;
}

/** One counted series of `read_routing_total`. */
export interface RouteCount {
  readonly node: DbNode;
  /** "" for reads outside any endpoint. */
  readonly endpoint: string;
  readonly reason: RouteReason;
  readonly count: number;
}

/**
 * Reads routed, by node, endpoint and reason, as plain numbers. Counting a
 * read is one lookup by node: reads to a node mostly repeat its last
 * endpoint and reason, whose counter is kept at hand; label strings are
 * only built at scrape time.
 */
export class RouteCounts {
  private readonly byNode = new Map<DbNode, NodeRoutes>();

  /** Counts one read routed to `node` for `endpoint` and `reason`. */
  add(node: DbNode, endpoint: string, reason: RouteReason): void {
    let routes = this.byNode.get(node);
    if (routes === undefined) {
      routes = {
        byEndpoint: new Map(),
        endpoint: null,
        reason: null,
        last: null,
      };
      this.byNode.set(node, routes);
    }
    if (routes.endpoint === endpoint && routes.reason === reason) {
      routes.last!.n++;
      return;
    }
    let byReason = routes.byEndpoint.get(endpoint);
    if (byReason === undefined)
      routes.byEndpoint.set(endpoint, (byReason = new Map()));
    let c = byReason.get(reason);
    if (c === undefined) byReason.set(reason, (c = { n: 0 }));
    c.n++;
    routes.endpoint = endpoint;
    routes.reason = reason;
    routes.last = c;
  }

  /** Every series counted since start. */
  *series(): IterableIterator<RouteCount> {
    for (const [node, { byEndpoint }] of this.byNode)
      for (const [endpoint, byReason] of byEndpoint)
        for (const [reason, c] of byReason)
          yield { node, endpoint, reason, count: c.n };
  }

  /** Reads by node name and reason, summed over endpoints. */
  byNodeAndReason(): ReadCount[] {
    const byKey = new Map<string, ReadCount>();
    for (const { node, reason, count } of this.series()) {
      const key = `${node.name}\u0000${reason}`;
      const entry = byKey.get(key);
      if (entry === undefined)
        byKey.set(key, { node: node.name, reason, count });
      else entry.count += count;
    }
    return [...byKey.values()];
  }
}
